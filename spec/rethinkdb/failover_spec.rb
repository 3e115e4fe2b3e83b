# frozen_string_literal: true
require_relative "failover_helper"

# r.connect(hosts:) against several reqlite processes on loopback (each its own
# port, killed and restarted by pid). They are independent servers, not a
# RethinkDB cluster: reqlite has no replication, so each is seeded with its own
# rows (told apart by a "server" field) and nothing written to one is on another.
RSpec.describe "RethinkDB with several hosts", :rethinkdb, :reqlite,
               em_rust_only: "the RethinkDB client is em_rust's" do
  before(:context) { @cluster = ReqliteCluster.new(2) }
  after(:context) { @cluster&.stop }

  let(:cluster) { @cluster }
  let(:conns) { [] }

  before do
    2.times do |i|
      cluster.revive(i) unless cluster.servers[i].running?
      FailoverSpec.seed(cluster.port(i), Array.new(250) { |n| { "id" => n, "server" => i } })
    end
  end

  after { conns.each { |conn| conn.close(noreply_wait: false) } }

  def connect(hosts = cluster.hosts, **opts)
    FailoverSpec.connect(hosts, **opts).tap { |conn| conns << conn }
  end

  def in_use(conn) = cluster.index_of(conn.port)

  it "connects to the first host that answers and reports it as conn.server" do
    conn = connect([["127.0.0.1", closed_port], *cluster.hosts])
    expect(conn.port).to eq(cluster.port(0))
    server = conn.server
    expect(server).to include("host" => "127.0.0.1", "port" => cluster.port(0))
    expect(server.keys).to include("id", "name")
    expect(r.table("test").get(1)["server"].run(conn)).to eq(0)
  end

  it "says why every host failed when none answers" do
    ports = [closed_port, closed_port]
    expect { connect(ports.map { |port| ["127.0.0.1", port] }) }.to raise_error(
      RethinkDB::ReqlDriverError,
      /\ACould not connect to any of the 2 hosts: 127.0.0.1:#{ports[0]} \(Could not connect .*Connection refused.*\); 127.0.0.1:#{ports[1]} /m
    )
  end

  it "ends a stream in flight when its server dies (no replay), then runs on the next host" do
    conn = connect(reconnect: { initial: 0.02, max: 0.1 })
    first = in_use(conn)
    stream = FailoverSpec.recorder
    after = FailoverSpec.recorder
    servers = cluster
    next_query = r.table("test").get(7)["server"]
    run_em(10) do
      r.range.em_run(conn, Class.new(RethinkDB::Handler) do # reqlite sends r.range in batches of 40
        define_method(:on_open) { servers.kill(first) }
        define_method(:on_val) { |val| stream.on_val(val) }
        define_method(:on_error) { |err| stream.on_error(err) }
        define_method(:on_close) do
          stream.on_close
          timer = EM.add_periodic_timer(0.01) do
            next unless conn.open?

            timer.cancel
            next_query.em_run(conn, after)
            EM.add_periodic_timer(0.01) { EM.stop if after.count(:close) == 1 }
          end
        end
      end.new)
    end
    expect(stream.count(:val)).to be_between(1, 400)
    expect(stream.log.last(2)).to match([[:error, RethinkDB::ReqlDriverError, /Connection closed by server/], [:close]])
    expect(in_use(conn)).to eq(1 - first)
    expect(after.log).to eq([[:open], [:val, 1 - first], [:close]])
    expect(conn.server["port"]).to eq(cluster.port(1 - first))
  end

  it "waits as the backoff says before reconnecting, and keeps the reactor turning meanwhile" do
    conn = connect(reconnect: { initial: 0.3, max: 0.3, jitter: 0 })
    first = in_use(conn)
    lost_at = reconnected_at = nil
    gaps = []
    run_em(10) do
      r.table("test").get(1).changes.em_run(conn, FailoverSpec.recorder)
      last = CoreHelpers.now
      EM.add_periodic_timer(0.01) do
        gaps << CoreHelpers.now - last
        last = CoreHelpers.now
        lost_at ||= CoreHelpers.now unless conn.open?
        if lost_at && conn.open?
          reconnected_at = CoreHelpers.now
          EM.stop
        end
      end
      EM.add_timer(0.1) { cluster.kill(first) }
    end
    expect(reconnected_at - lost_at).to be_between(0.28, bound(1.5))
    expect(gaps.max).to be < bound(0.5) # the wait is a timer, not a sleep
    expect(in_use(conn)).to eq(1 - first)
  end

  it "does not block the reactor on a host that accepts but never answers" do
    silent = TCPServer.new("127.0.0.1", 0)
    conn = connect([["127.0.0.1", cluster.port(0)], ["127.0.0.1", silent.addr[1]], ["127.0.0.1", cluster.port(1)]],
                   timeout: 1, reconnect: { initial: 0.01, max: 0.01 })
    gaps = []
    run_em(10) do
      last = CoreHelpers.now
      EM.add_periodic_timer(0.01) do
        gaps << CoreHelpers.now - last
        last = CoreHelpers.now
        EM.stop if conn.open? && in_use(conn) == 1
      end
      r.table("test").get(1).changes.em_run(conn, FailoverSpec.recorder)
      EM.add_timer(0.05) { cluster.kill(0) }
    end
    expect(gaps.size).to be > 20 # the silent host's 1 s handshake timeout passed meanwhile
    expect(gaps.max).to be < bound(0.5) # a blocked loop would show the 1 s handshake timeout
  ensure
    silent&.close
  end

  it "uses a server again once it is back" do
    conn = connect(reconnect: { initial: 0.02, max: 0.2 })
    seen = [in_use(conn)]
    run_em(20) do
      r.table("test").get(1).changes.em_run(conn, FailoverSpec.recorder)
      EM.add_timer(0.05) { cluster.kill(seen.last) }
      EM.add_periodic_timer(0.01) do
        next unless conn.open? && in_use(conn) != seen.last

        seen << in_use(conn)
        if seen.size == 3
          EM.stop
        else
          cluster.revive(seen[-2]) # back on its old port
          cluster.kill(seen.last)
        end
      end
    end
    expect(seen).to eq([0, 1, 0])
  end

  it "gives up after the attempts it was given: feeds then end, the connection stays closed" do
    conn = connect(reconnect: { initial: 0.02, max: 0.05, attempts: 3, jitter: 0 })
    handler = FailoverSpec.recorder
    started = nil
    run_em(10) do
      r.table("test").get(1).changes.em_run(conn, handler, resume: true)
      EM.add_timer(0.05) do
        started = CoreHelpers.now
        cluster.kill(0)
        cluster.kill(1)
      end
      EM.add_periodic_timer(0.01) { EM.stop if handler.count(:close) == 1 }
    end
    expect(CoreHelpers.now - started).to be_between(0.1, bound(2))
    expect(handler.log.last(2)).to match(
      [[:error, RethinkDB::ReqlDriverError, /Connection closed by server.* Could not reconnect after 3 attempts: Could not connect/],
       [:close]]
    )
    expect(handler.count(:reconnect)).to eq(0)
    expect(conn).not_to be_open
  end

  it "lets a run in a scheduled fiber wait for the reconnect under way, and another thread's too" do
    conn = connect(reconnect: { initial: 0.2, max: 0.2, jitter: 0 })
    first = in_use(conn)
    got = {}
    run_em(10) do
      r.table("test").get(1).changes.em_run(conn, FailoverSpec.recorder, resume: true)
      EM.add_timer(0.05) { cluster.kill(first) }
      timer = EM.add_periodic_timer(0.005) do
        next if conn.open?

        timer.cancel
        EM.fiber { got[:fiber] = r.table("test").get(1)["server"].run(conn) }
        Thread.new { got[:thread] = r.table("test").get(2)["server"].run(conn) }
        EM.add_periodic_timer(0.01) { EM.stop if got.size == 2 }
      end
    end
    expect(got).to eq(fiber: 1 - first, thread: 1 - first)
  end

  it "stops reconnecting on close: the feeds waiting end, the connection stays closed" do
    conn = connect(reconnect: { initial: 0.3, max: 0.3 })
    handler = FailoverSpec.recorder
    threads = Thread.list
    run_em(10) do
      r.table("test").get(1).changes.em_run(conn, handler, resume: true)
      EM.add_timer(0.05) { cluster.kill(in_use(conn)) }
      timer = EM.add_periodic_timer(0.005) do
        next if conn.open?

        timer.cancel
        conn.close(noreply_wait: false)
        EM.add_timer(0.6) { EM.stop } # past when the first attempt would have been made
      end
    end
    expect(handler.log).to eq([[:open], [:error, RethinkDB::ReqlRuntimeError, "Connection is closed."], [:close]])
    expect(conn).not_to be_open
    expect(Thread.list - threads).to eq([]) # no reconnect thread started (one of an earlier example may end meanwhile)
    expect { r.expr(1).run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError, "Connection is closed.")
  end

  it "reconnects a synchronous run outside EM.run, after the loss was raised" do
    conn = connect(reconnect: { initial: 0.01, max: 0.05 })
    first = in_use(conn)
    expect(r.table("test").get(3)["server"].run(conn)).to eq(first)
    cluster.kill(first)
    expect { r.table("test").get(3)["server"].run(conn) }
      .to raise_error(RethinkDB::ReqlDriverError, /Connection closed by server/)
    expect(r.table("test").get(3)["server"].run(conn)).to eq(1 - first)
    expect(conn.server["port"]).to eq(cluster.port(1 - first))
  end

  it "raises from a synchronous run once the attempts are used up" do
    conn = connect(reconnect: { initial: 0.05, max: 0.1, attempts: 2, jitter: 0 })
    2.times { |i| cluster.kill(i) }
    expect { r.expr(1).run(conn) }.to raise_error(RethinkDB::ReqlDriverError, /Connection closed by server/)
    started = CoreHelpers.now
    expect { r.expr(1).run(conn) }.to raise_error(
      RethinkDB::ReqlDriverError, /Connection closed by server.* Could not reconnect after 2 attempts: Could not connect/m
    )
    expect(CoreHelpers.now - started).to be_between(0.15, bound(2))
  end

  it "does not try the next host with a password the first refused" do
    expect { connect(password: "wrong") }.to raise_error(RethinkDB::ReqlAuthError)
  end
end
