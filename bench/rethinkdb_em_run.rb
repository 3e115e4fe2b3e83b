# frozen_string_literal: true
# RethinkDB em_run throughput, em_rust's client against the official driver's
# design (a pure-Ruby TCPSocket client with one listener thread per connection,
# bench/lib/ruby_reql_client.rb), in one run against one reqlite server:
#
#   stream: em_run over r.range until 100,000 rows have arrived        (rows/s)
#   feed:   em_run over r.table(...).changes while a second connection
#           inserts 10,000 documents in batches of 500                  (rows/s)
#
#   ruby bench/rethinkdb_em_run.rb     (BENCH_ROUNDS=5, BENCH_QUICK=1 for small sizes)
# Needs `npm install reqlite@2.3.0` in the repository root.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "em_rust/rethinkdb"
require_relative "lib/ruby_reql_client"
require_relative "../spec/support/reqlite_server"

include RethinkDB::Shortcuts

QUICK = ENV["BENCH_QUICK"] == "1"
ROUNDS = Integer(ENV.fetch("BENCH_ROUNDS", QUICK ? "1" : "5"))
STREAM_ROWS = QUICK ? 10_000 : 100_000
FEED_ROWS = QUICK ? 2_000 : 10_000
FEED_BATCH = 500

CLIENTS = {
  "em_rust" => (RethinkDB::Native::Socket if defined?(RethinkDB::Native::Socket)),
  "pure Ruby, listener thread" => RubyReqlClient::Transport
}.freeze

def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

def stream_rate(conn)
  count = 0
  t0 = now
  EM.run do
    handle = r.range.em_run(conn) do |_row|
      count += 1
      next unless count == STREAM_ROWS
      handle.close
      EM.stop
    end
  end
  count / (now - t0)
end

def feed_rate(conn, writer)
  r.table("bench").delete.run(writer)
  count = 0
  t0 = nil
  EM.run do
    handle = r.table("bench").changes.em_run(conn) do |err, _change|
      raise err if err
      count += 1
      next unless count == FEED_ROWS
      handle.close
      EM.stop
    end
    EM.add_timer(0.1) do
      t0 = now
      Thread.new do
        (FEED_ROWS / FEED_BATCH).times { r.table("bench").insert(Array.new(FEED_BATCH) { {} }).run(writer) }
      end
    end
  end
  count / (now - t0)
end

def median(values) = values.sort[values.size / 2]

abort ReqliteServer.unavailable_reason if ReqliteServer.unavailable_reason
abort "this build has no RethinkDB::Native::Socket" unless CLIENTS["em_rust"]
server = ReqliteServer.new.start
begin
  setup = r.connect(host: "127.0.0.1", port: server.port)
  r.db_create("test").run(setup)
  r.db("test").table_create("bench").run(setup)
  setup.close(noreply_wait: false)

  results = Hash.new { |h, k| h[k] = Hash.new { |hh, kk| hh[kk] = [] } }
  # Round 0 warms reqlite's JIT up for both clients and is not counted.
  (ROUNDS + 1).times do |round|
    order = round.even? ? CLIENTS.to_a : CLIENTS.to_a.reverse
    order.each do |name, transport|
      conn = r.connect(host: "127.0.0.1", port: server.port, db: "test", transport: transport)
      writer = r.connect(host: "127.0.0.1", port: server.port, db: "test", transport: transport)
      stream = stream_rate(conn)
      feed = feed_rate(conn, writer)
      unless round.zero?
        results[:stream][name] << stream
        results[:feed][name] << feed
      end
      conn.close(noreply_wait: false)
      writer.close(noreply_wait: false)
    end
  end

  names = CLIENTS.keys
  puts "| workload | #{names.join(' | ')} | ratio |"
  puts "|---|#{'---|' * names.size}---|"
  results.each do |workload, by_client|
    medians = names.map { |n| median(by_client[n]) }
    puts "| #{workload} (rows/s) | #{medians.map { |m| m.round }.join(' | ')} | #{(medians[0] / medians[1]).round(2)}x |"
  end
ensure
  server.stop
end
