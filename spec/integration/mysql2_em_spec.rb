# frozen_string_literal: true
require "spec_helper"

# mysql2's Mysql2::EM::Client (Debian ruby-mysql2), unchanged, against a real
# MariaDB: spec/support/mariadb_server.rb starts a private mariadbd (own data
# directory, socket and port on 127.0.0.1) once for this file. Inside the
# reactor, Mysql2::EM::Client#query sends the query with async: true, then
# EM.watch-es the client's socket with notify_readable and, when the reply is
# readable, detaches and hands async_result to a deferrable: success to the
# callback, Mysql2::Error to the errback.
RSpec.describe "mysql2 Mysql2::EM::Client against mariadb-server", :integration do
  before(:context) do
    require_real_gems!("ruby-mysql2", "mysql2/em")
    @db = MariaDBServer.new.start!
  end

  after(:context) { @db&.stop! }

  def em_client = Mysql2::EM::Client.new(**@db.client_options)

  it "runs 5 x SELECT SLEEP(0.2) on 5 clients at once, in well under 5 x 0.2 s, while the reactor keeps ticking" do
    results = {}
    ticks = 0
    elapsed = nil
    t0 = now
    run_em(8, what: "5 concurrent query results") do
      EM.add_periodic_timer(0.02) { ticks += 1 }
      5.times do |n|
        client = em_client
        q = client.query("SELECT SLEEP(0.2) AS slept, #{n} AS n, CONCAT('row ', #{n}) AS label")
        q.callback do |result|
          results[n] = result.to_a
          client.close
          if results.size == 5
            elapsed = now - t0
            EM.stop
          end
        end
        q.errback { |e| results[n] = e; EM.stop }
      end
    end
    expect(results.keys.sort).to eq([0, 1, 2, 3, 4])
    results.each { |n, rows| expect(rows).to eq([{ "slept" => 0, "n" => n, "label" => "row #{n}" }]) }
    expect(elapsed).to be >= 0.2
    expect(elapsed).to be < 0.7 # serially it would be >= 1.0 s
    expect(ticks).to be >= 5 # the reactor ran timers while the queries slept
  end

  it "hands SQL errors to the errback as Mysql2::Error, and the client stays usable" do
    r = {}
    run_em(8, what: "errors and a query after them") do
      client = em_client
      bad = client.query("SELECT * FROM no_such_table")
      bad.callback { |res| r[:unexpected] = res.to_a; EM.stop }
      bad.errback do |e|
        r[:missing] = [e.class, e.error_number]
        syntax = client.query("SELEKT 1")
        syntax.callback { |res| r[:unexpected] = res.to_a; EM.stop }
        syntax.errback do |e2|
          r[:syntax] = [e2.class, e2.error_number]
          ok = client.query("SELECT 'fine' AS status")
          ok.callback { |res| r[:after] = res.to_a; client.close; EM.stop }
          ok.errback { |e3| r[:unexpected] = e3; EM.stop }
        end
      end
    end
    expect(r).to eq(missing: [Mysql2::Error, 1146], syntax: [Mysql2::Error, 1064], after: [{ "status" => "fine" }])
  end

  it "chains 200 queries on one client from its callbacks (insert, then read back), results in order" do
    rows = nil
    count = 0
    run_em(8, what: "200 chained queries") do
      client = em_client
      fail_with = ->(e) { rows = e; EM.stop }
      setup = client.query("CREATE TABLE chained (id INT PRIMARY KEY, name VARCHAR(40), data VARBINARY(64))")
      setup.errback(&fail_with)
      setup.callback do
        insert = lambda do |i|
          if i == 200
            sel = client.query("SELECT id, name, HEX(data) AS hex FROM chained ORDER BY id")
            sel.callback { |res| rows = res.to_a; client.close; EM.stop }
            sel.errback(&fail_with)
            next
          end
          data = client.escape([i, 255 - (i % 256), 0].pack("nCC"))
          q = client.query("INSERT INTO chained VALUES (#{i}, 'näme #{i}', '#{data}')")
          q.callback { count += 1; insert.call(i + 1) }
          q.errback(&fail_with)
        end
        insert.call(0)
      end
    end
    expect(count).to eq(200)
    expect(rows.size).to eq(200)
    expect(rows.first).to eq("id" => 0, "name" => "näme 0", "hex" => "0000FF00")
    expect(rows.map { |h| h["id"] }).to eq((0...200).to_a)
    expect(rows.map { |h| h["name"] }).to eq(Array.new(200) { |i| "näme #{i}" })
    expect(rows.map { |h| [h["hex"]].pack("H*") }).to eq(Array.new(200) { |i| [i, 255 - (i % 256), 0].pack("nCC") })
  ensure
    @db&.client&.tap { |c| c.query("DROP TABLE IF EXISTS chained") }&.close
  end

  it "reads a 20,000-row result (several packets' worth) through the watched socket" do
    rows = nil
    run_em(8, what: "a 20,000-row result") do
      client = em_client
      q = client.query("SELECT seq AS n, REPEAT('x', 50) AS pad FROM seq_1_to_20000")
      q.callback { |res| rows = res.to_a; client.close; EM.stop }
      q.errback { |e| rows = e; EM.stop }
    end
    expect(rows).to be_an(Array)
    expect(rows.size).to eq(20_000)
    expect(rows.map { |h| h["n"] }).to eq((1..20_000).to_a)
    expect(rows.map { |h| h["pad"] }.uniq).to eq(["x" * 50])
  end

  it "close while a query is in flight detaches the watch: neither callback nor errback runs, the reactor goes on" do
    r = { callback: 0, errback: 0 }
    run_em(8, what: "the reactor after an early close") do
      client = em_client
      q = client.query("SELECT SLEEP(0.3)")
      q.callback { r[:callback] += 1 }
      q.errback { r[:errback] += 1 }
      EM.add_timer(0.05) do
        client.close
        r[:closed] = client.closed?
        watch = client.instance_variable_get(:@watch)
        EM.add_timer(0.5) { r[:watching] = watch.watching?; EM.stop } # the watcher's unbind has run
      end
    end
    expect(r).to eq(callback: 0, errback: 0, closed: true, watching: false)
  end
end
