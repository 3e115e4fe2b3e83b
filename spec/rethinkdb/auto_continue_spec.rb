# frozen_string_literal: true
require_relative "rethinkdb_helper"

# em_run streams: the native socket sends the CONTINUE of a partial batch the
# moment it reads it (before Ruby dispatches the rows), so the server works on
# the next batch meanwhile; nothing is asked twice, and nothing after a STOP.
RSpec.describe "RethinkDB CONTINUE for em_run streams", :rethinkdb do
  # Answers START and each CONTINUE with the next of `batches` (all but the last
  # partial), records every query, and answers STOP with an empty sequence.
  def stream_server(batches)
    queries = Queue.new
    server = FakeReqlServer.new do |io, token, query|
      queries << query
      case JSON.parse(query)[0]
      when 1, 2
        rows = batches.shift or next
        io.write(FakeReqlServer.frame(token, JSON.generate(t: batches.empty? ? 2 : 3, r: rows, n: [])))
      when 3 then io.write(FakeReqlServer.frame(token, '{"t":2,"r":[]}'))
      end
    end
    [server, queries]
  end

  def drain(queue)
    Array.new(queue.size) { queue.pop }
  end

  describe "RethinkDB::Native::Socket#auto_continue" do
    it "continues partial responses of its tokens as they are read, until a final one" do
      server, queries = stream_server([[1, 2], [3], [4]])
      socket = RethinkDB::Native::Socket.connect("127.0.0.1", server.port, "admin", "", 2)
      socket.auto_continue(1, true)
      socket.send_query(1, "[1,[10,[]],{}]")
      expect(socket.read_response(2)).to eq([1, { "t" => 3, "r" => [1, 2], "n" => [] }, true])
      expect(socket.read_response(2)).to eq([1, { "t" => 3, "r" => [3], "n" => [] }, true])
      expect(socket.read_response(2)).to eq([1, { "t" => 2, "r" => [4], "n" => [] }])
      expect(drain(queries)).to eq(["[1,[10,[]],{}]", "[2]", "[2]"])
    ensure
      socket&.close
      server&.close
    end

    it "leaves other tokens, and tokens turned off, to the caller" do
      server, queries = stream_server([[1], [2], [3]])
      socket = RethinkDB::Native::Socket.connect("127.0.0.1", server.port, "admin", "", 2)
      socket.send_query(1, "[1,[10,[]],{}]")
      expect(socket.read_response(2)).to eq([1, { "t" => 3, "r" => [1], "n" => [] }])
      socket.auto_continue(1, true)
      socket.auto_continue(1, false)
      socket.send_query(1, "[2]")
      expect(socket.read_response(2)).to eq([1, { "t" => 3, "r" => [2], "n" => [] }])
      expect(socket.read_response(0.2)).to be_nil
      expect(drain(queries)).to eq(["[1,[10,[]],{}]", "[2]"])
    ensure
      socket&.close
      server&.close
    end
  end

  describe "RethinkDB::Native::Socket#poll_response" do
    it "returns nil at once when no CONTINUE awaits its answer, else the answer when it comes" do
      server, = stream_server([[1], [2]])
      socket = RethinkDB::Native::Socket.connect("127.0.0.1", server.port, "admin", "", 2)
      expect(socket.poll_response(0.01)).to be_nil
      socket.auto_continue(1, true)
      socket.send_query(1, "[1,[10,[]],{}]")
      first = socket.read_response(2)
      expect(first).to eq([1, { "t" => 3, "r" => [1], "n" => [] }, true])
      second = nil
      second = socket.poll_response(0.01) until second
      expect(second).to eq([1, { "t" => 2, "r" => [2], "n" => [] }])
      expect(socket.poll_response(0.01)).to be_nil
    ensure
      socket&.close
      server&.close
    end

    it "is tuned with Socket.busy_poll (seconds, 0 turns it off)" do
      saved = RethinkDB::Native::Socket.busy_poll
      expect(saved).to eq(0.0001)
      expect { RethinkDB::Native::Socket.busy_poll = 1 }.to raise_error(ArgumentError, /between 0 and 0.01/)
      expect { RethinkDB::Native::Socket.busy_poll = "x" }.to raise_error(ArgumentError)
      RethinkDB::Native::Socket.busy_poll = 0
      server, = stream_server([[1, 2], [3]])
      conn = RethinkDB::Connection.new(host: "127.0.0.1", port: server.port)
      rows = []
      em_run_until_closed { r.range.em_run(conn) { |row| rows << row } }
      expect(rows).to eq([1, 2, 3])
    ensure
      RethinkDB::Native::Socket.busy_poll = saved
      conn&.close(noreply_wait: false)
      server&.close
    end
  end

  it "leaves the reactor time for timers while an endless stream keeps it busy" do
    server = FakeReqlServer.new(process: true) do |io, token, query|
      type = JSON.parse(query)[0]
      io.write(FakeReqlServer.frame(token, '{"t":3,"r":[1,2,3],"n":[]}')) if [1, 2].include?(type)
    end
    saved = RethinkDB::Native::Socket.busy_poll
    RethinkDB::Native::Socket.busy_poll = 0.01 # the server always answers within it
    conn = RethinkDB::Connection.new(host: "127.0.0.1", port: server.port)
    rows = 0
    ticks = 0
    EM.run do
      r.range.em_run(conn) { |err, _row| rows += 1 unless err }
      EM.add_periodic_timer(0.01) { ticks += 1 }
      EM.add_timer(0.5) { EM.stop }
    end
    expect(ticks).to be >= 5 # 50 on an idle machine; none or one if the stream held the reactor
    expect(rows).to be > 300
  ensure
    RethinkDB::Native::Socket.busy_poll = saved
    conn&.close(noreply_wait: false)
    server&.close
  end

  describe "em_run over a batched stream" do
    def run_stream(batches, transport, stop_after: nil)
      server, queries = stream_server(batches)
      conn = RethinkDB::Connection.new(host: "127.0.0.1", port: server.port, transport: transport)
      log = []
      EM.run do
        handle = r.range.em_run(conn) do |row|
          log << row
          handle.close if row == stop_after
        end
        EM.add_periodic_timer(0.01) { EM.stop if handle.closed? }
        EM.add_timer(3) { EM.stop }
      end
      EM.run { EM.add_timer(0.1) { EM.stop } } # lets late queries arrive
      [log, drain(queries).map { |q| JSON.parse(q)[0] }]
    ensure
      conn&.close(noreply_wait: false)
      server&.close
    end

    it "delivers every row in order and asks for each batch once (native socket)" do
      rows, queries = run_stream([[1, 2], [3, 4], [5]], RethinkDB::Native::Socket)
      expect(rows).to eq([1, 2, 3, 4, 5])
      expect(queries).to eq([1, 2, 2])
    end

    it "does the same over the pure-Ruby transport, which continues from Ruby" do
      rows, queries = run_stream([[1, 2], [3, 4], [5]], RubyReqlClient::Transport)
      expect(rows).to eq([1, 2, 3, 4, 5])
      expect(queries).to eq([1, 2, 2])
    end

    # Closing does not stop the handler: the rest of the batch still reaches it
    # (RETHINKDB.md §2.3). Batch 2's CONTINUE went out when it was read.
    it "sends STOP when the handle closes mid-batch, and no CONTINUE after it" do
      rows, queries = run_stream([[1, 2], [3, 4], [5, 6], [7]], RethinkDB::Native::Socket, stop_after: 3)
      expect(rows).to eq([1, 2, 3, 4])
      expect(queries).to eq([1, 2, 2, 3])
    end
  end
end
