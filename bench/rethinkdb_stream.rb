# frozen_string_literal: true
# RethinkDB em_run over r.range (an endless stream, reqlite answers a finite range
# as one array) with a Handler counting on_val until 100,000 rows, against a
# reqlite 2.3.0 this process starts on 127.0.0.1 (one uncounted warm-up stream
# first: reqlite's JIT). em_rust: its own client (the native socket on the
# reactor). The real eventmachine: the official driver's design
# (bench/lib/official_design_client.rb: a listener thread, JSON in Ruby, next_tick
# per response). Rows/s. em_rust also reports the ceiling (info): a client that
# only reads reqlite's frames and asks for the next batch, parsing nothing.
require_relative "lib/loader"
require_relative "lib/net"
require_relative "../spec/support/reqlite_server"

ROWS = Bench.size(100_000, 10_000)
TERM = "[173,[]]" # r.range

abort "bench: #{ReqliteServer.unavailable_reason}" if ReqliteServer.unavailable_reason

# What both handlers do: count rows, stop the reactor at the last one (the stream
# is closed at shutdown).
module CountRows
  attr_reader :done_at

  def rows = @rows || 0

  def on_val(_row)
    @rows = rows + 1
    return unless @rows == ROWS

    @done_at = Bench.now
    EM.stop
  end

  # The stream cut at shutdown may report that; anything before the last row counts.
  def on_error(err)
    raise err unless @done_at
  end
end

def em_rust_stream(server)
  require "em_rust/rethinkdb"
  counter = Class.new(RethinkDB::Handler) { include CountRows }.new
  conn = RethinkDB::RQL.new.connect(host: Bench::HOST, port: server.port)
  t0 = nil
  EM.run do
    Bench.em_deadline(Bench::TIMEOUT * 0.3, "em_run stream")
    t0 = Bench.now
    RethinkDB::RQL.new.range.em_run(conn, counter)
  end
  conn.close(noreply_wait: false)
  raise "#{counter.rows} of #{ROWS} rows" unless counter.done_at

  ROWS / (counter.done_at - t0)
end

def official_design_stream(server)
  require_relative "lib/official_design_client"
  handler = Class.new(OfficialDesign::Handler) { include CountRows }.new
  conn = OfficialDesign::Connection.new(Bench::HOST, server.port)
  t0 = nil
  EM.run do
    Bench.em_deadline(Bench::TIMEOUT * 0.3, "em_run stream (official design)")
    t0 = Bench.now
    conn.em_run(TERM, handler)
  end
  conn.stop_all
  conn.close
  raise "#{handler.rows} of #{ROWS} rows" unless handler.done_at

  ROWS / (handler.done_at - t0)
end

# Frames only: START, then CONTINUE after each batch, nothing parsed but the first
# batch (for its row count).
def ceiling(server)
  require_relative "lib/ruby_reql_client"
  transport = RubyReqlClient::Transport.connect(Bench::HOST, server.port, "admin", "", 20)
  socket = transport.instance_variable_get(:@socket)
  frame = ->(token, body) { [token, body.bytesize].pack("Q<L<") + body }
  t0 = Bench.now
  socket.write(frame.call(1, "[1,#{TERM},{}]"))
  rows = 0
  per_batch = nil
  while rows < ROWS
    _token, length = socket.read(12).unpack("Q<L<")
    body = socket.read(length)
    per_batch ||= JSON.parse(body)["r"].size
    rows += per_batch
    socket.write(frame.call(1, "[2]"))
  end
  rate = rows / (Bench.now - t0)
  transport.close
  rate
end

server = ReqliteServer.new.start
Bench.on_abort { server.stop }
begin
  stream = Bench::IMPL == "em_rust" ? method(:em_rust_stream) : method(:official_design_stream)
  stream.call(server) # warm-up, not counted
  rate = stream.call(server)
  info = { rows: ROWS, client: Bench::IMPL == "em_rust" ? "em_rust" : "official design (listener thread)" }
  info[:ceiling_rows_per_s] = ceiling(server).round if Bench::IMPL == "em_rust"
  Bench.report({ rows_per_s: { value: rate, unit: "rows/s", better: "higher", label: "em_run stream" } }, info)
ensure
  server.stop
end
