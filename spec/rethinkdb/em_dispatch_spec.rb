# frozen_string_literal: true
require_relative "rethinkdb_helper"

# How em_run hands each response to the handler (RETHINKDB.md §2.3), driven by
# hand: a FakeTransport attaches to the reactor the way the native socket does
# and the example plays the server, so every response type, note and feed row
# shape can be shown, including those reqlite never sends.
RSpec.describe "em_run response dispatch", :rethinkdb, :em_run do
  let(:conn) { RethinkDB::Connection.new(port: 1, transport: RethinkDBSpec::FakeTransport) }
  let(:transport) { conn.instance_variable_get(:@transport) }

  # A Handler that records its calls; @transport is the fake server.
  def recorder(*more, &extra)
    handler = RethinkDBSpec.recorder(:open, :close, :val, :wait_complete, *more, &extra).new
    handler.instance_variable_set(:@transport, transport)
    handler
  end

  def feed_recorder = recorder(:change, :initial_val, :uninitial_val, :change_error, :state, :unhandled_change)

  # Starts `query` with `handler` in EM.run, feeds it `responses` (one per
  # tick), then stops the reactor. Returns the handle.
  def play(query, handler, *responses)
    handle = nil
    EM.run do
      handle = query.em_run(conn, handler)
      responses.each_with_index do |response, i|
        EM.add_timer(0.001 * (i + 1)) { transport.respond(handle.token, response) }
      end
      EM.add_timer(0.001 * (responses.size + 2)) { EM.stop }
    end
    handle
  end

  it "attaches the connection to the reactor for em_run, and detaches it when the reactor stops" do
    EM.run do
      r.expr(1).em_run(conn) { |_err, _val| nil }
      expect(transport).to be_attached
      EM.stop
    end
    expect(transport).not_to be_attached
  end

  it "SUCCESS_ATOM: on_open, on_atom/on_array, on_close" do
    handler = recorder
    handle = play(r.expr(1), handler, { t: 1, r: [5] })
    expect(handler.log).to eq([[:open], [:val, 5], [:close]])
    expect(handle).to be_closed
    handler = recorder
    play(r.expr(1), handler, { t: 1, r: [[1, 2]] })
    expect(handler.log).to eq([[:open], [:val, 1], [:val, 2], [:close]])
  end

  it "SUCCESS_PARTIAL: sends CONTINUE before the rows; SUCCESS_SEQUENCE ends it" do
    handler = recorder do
      def on_stream_val(val) = @log << [:row, val, @transport.queries.last[1]]
    end
    handle = play(r.range, handler, { t: 3, r: [1, 2], n: [] }, { t: 2, r: [3], n: [] })
    expect(handler.log).to eq([[:open], [:row, 1, [2]], [:row, 2, [2]], [:row, 3, [2]], [:close]])
    expect(transport.queries.map { |q| q[1][0] }).to eq([1, 2])
    expect(handle).to be_closed
  end

  it "SUCCESS_PARTIAL: a connection lost during the rows still reaches the handle as on_error + on_close" do
    handler = recorder do
      def on_stream_val(val)
        @log << [:row, val]
        @transport.lose("Connection closed by server.") if val == 1
      end
    end
    handle = play(r.range, handler, { t: 3, r: [1, 2], n: [] })
    expect(handler.log).to eq([[:open], [:row, 1], [:row, 2],
                               [:error, RethinkDB::ReqlDriverError, "Connection closed by server.\nBacktrace:\nr.range\n^^^^^^^"],
                               [:close]])
    expect(handle).to be_closed
  end

  it "WAIT_COMPLETE: on_open, on_wait_complete, on_close" do
    handler = recorder
    play(r.expr(1), handler, { t: 4 })
    expect(handler.log).to eq([[:open], [:wait_complete], [:close]])
  end

  it "errors: on_open, on_error with the exception, on_close" do
    [
      [{ t: 18, e: 3_000_000, r: ["bad"], b: [] }, RethinkDB::ReqlQueryLogicError, "bad\nBacktrace:\nr(1)\n^^^^"],
      [{ t: 17, r: ["compile"], b: [] }, RethinkDB::ReqlServerCompileError, "compile\nBacktrace:\nr(1)\n^^^^"],
      [{ t: 16, r: ["client"] }, RethinkDB::ReqlDriverError, "client\nBacktrace:\nr(1)"],
      [{ t: 5, r: [{}] }, RethinkDB::ReqlRuntimeError, %(Unexpected response: {"t"=>5, "r"=>[{}]}\nBacktrace:\nr(1))],
      [{ r: ["?"] }, RethinkDB::ReqlRuntimeError, %(Unexpected response: {"r"=>["?"]}\nBacktrace:\nr(1))]
    ].each do |response, klass, message|
      handler = recorder
      play(r.expr(1), handler, response)
      expect(handler.log).to eq([[:open], [:error, klass, message], [:close]]), response.inspect
    end
  end

  it "a response that cannot be decoded goes to on_error as a ReqlDriverError and closes the connection" do
    handler = recorder
    play(r.expr(1), handler, { t: 1, r: [{ "$reql_type$" => "TIME", "epoch_time" => 0, "timezone" => "nonsense" }] })
    expect(handler.log[0]).to eq([:open])
    expect(handler.log[1][0..1]).to eq([:error, RethinkDB::ReqlDriverError])
    expect(handler.log[1][2]).to start_with(%(Bad response from server for token 1: a TIME pseudo-type with a bad "timezone"))
    expect(handler.log[2]).to eq([:close])
    expect(conn).to be_closed
  end

  describe "changefeed rows" do
    # The callbacks for `rows` (in a final batch, so the feed then closes).
    def rows_of(notes, rows, handler = feed_recorder)
      play(r.table("t").changes, handler, { t: 2, r: rows, n: notes })
      expect(handler.log.values_at(0, -1)).to eq([[:open], [:close]])
      handler.log[1...-1]
    end

    it "picks the first matching optional callback" do
      rows = [
        { new_val: 1, old_val: nil }, { new_val: 2 }, { old_val: 3 }, { error: "lost" }, { state: "ready" },
        { other: 1 }, { new_val: 4, old_val: 5, error: "x" }
      ]
      expect(rows_of([1], rows)).to eq([
        [:change, nil, 1], [:initial_val, 2], [:uninitial_val, 3], [:change_error, "lost"], [:state, "ready"],
        [:unhandled_change, { "other" => 1 }], [:change, 5, 4]
      ])
    end

    it "counts the feed notes SEQUENCE, ATOM, ORDER_BY_LIMIT and UNIONED; INCLUDES_STATES alone is not a feed" do
      [1, 2, 3, 4].each { |note| expect(rows_of([note], [{ new_val: 1 }])).to eq([[:initial_val, 1]]) }
      handler = feed_recorder
      handler.singleton_class.define_method(:on_stream_val) { |val| @log << [:stream_val, val] }
      expect(rows_of([5], [{ new_val: 1 }], handler)).to eq([[:stream_val, { "new_val" => 1 }]])
    end

    it "treats a response without notes as a feed (as the official driver does)" do
      expect(rows_of(nil, [{ new_val: 1 }])).to eq([[:initial_val, 1]])
    end

    it "sends rows no callback takes, and rows that are not objects, to on_unhandled_change, then on_stream_val, then on_val" do
      handler = recorder
      play(r.table("t").changes, handler, { t: 2, r: [{ new_val: 1 }, true, 5], n: [1] })
      expect(handler.log).to eq([[:open], [:val, { "new_val" => 1 }], [:val, true], [:val, 5], [:close]])
    end

    it "gives a block the raw change documents" do
      got = []
      EM.run do
        handle = r.table("t").changes.em_run(conn) { |row| got << row }
        EM.next_tick { transport.respond(handle.token, { t: 2, r: [{ new_val: 1, old_val: nil }], n: [1] }) }
        EM.add_timer(0.01) { EM.stop }
      end
      expect(got).to eq([{ "new_val" => 1, "old_val" => nil }])
    end
  end

  describe "stream rows" do
    def stream_log(handler, *batches)
      play(r.range, handler, *batches.each_with_index.map { |rows, i| { t: i == batches.size - 1 ? 2 : 3, r: rows, n: [] } })
      handler.log
    end

    it "go to on_stream_val by its arity when a subclass overrides it, else to on_val by its arity" do
      expect(stream_log(recorder { def on_stream_val(v) = @log << [:sv, v] }, [1, 2], [3]))
        .to eq([[:open], [:sv, 1], [:sv, 2], [:sv, 3], [:close]])
      h = recorder { def on_stream_val(v, q) = @log << [:sv, v, q.class] }
      expect(stream_log(h, [1])).to eq([[:open], [:sv, 1, RethinkDB::QueryHandle], [:close]])
      expect(stream_log(recorder { def on_stream_val = @log << :sv }, [1, 2])).to eq([[:open], :sv, :sv, [:close]])
      h = recorder { def on_val(v, q) = @log << [:val, v, q.class] }
      expect(stream_log(h, [1])).to eq([[:open], [:val, 1, RethinkDB::QueryHandle], [:close]])
      expect(stream_log(recorder { def on_val(*a) = @log << a.map(&:class) }, [1]))
        .to eq([[:open], [Integer, RethinkDB::QueryHandle], [:close]])
    end

    it "stop at handler.stop in the middle of a batch" do
      h = recorder { def on_val(v) = (@log << v) && (v == 2 && stop) }
      expect(stream_log(h, [1, 2, 3], [4])).to eq([[:open], 1, 2])
    end

    it "stop the handler when a callback raises, and the error leaves EM.run" do
      h = recorder { def on_val(v) = v == 2 ? raise("boom #{v}") : @log << v }
      expect { stream_log(h, [1, 2, 3]) }.to raise_error(RuntimeError, "boom 2")
      expect(h.log).to eq([[:open], 1])
      expect(h).to be_stopped
    end

    it "reach a block by its arity" do
      got = []
      [->(v) { got << v }, ->(e, v) { got << [e, v] }, -> { got << :none }, proc { |*a| got << a }].each do |block|
        EM.run do
          handle = r.range.em_run(conn, &block)
          EM.next_tick { transport.respond(handle.token, { t: 2, r: [7], n: [] }) }
          EM.add_timer(0.01) { EM.stop }
        end
      end
      expect(got).to eq([7, [nil, 7], :none, [nil, 7]])
    end
  end

  # Runs r.expr(1) with a recorder and answers it with `responses` ([token offset, response]).
  def answer_expr(*responses)
    handler = recorder
    EM.run do
      handle = r.expr(1).em_run(conn, handler)
      EM.next_tick do
        responses.each { |offset, response| transport.respond(handle.token + offset, response) }
        EM.add_timer(0.01) { EM.stop }
      end
    end
    handler
  end

  it "drops responses for tokens nobody waits for any more" do
    handler = answer_expr([0, { t: 1, r: [1] }], [0, { t: 1, r: [2] }])
    expect(handler.log).to eq([[:open], [:val, 1], [:close]])
    expect(conn).to be_open
  end

  it "treats a response for a token no query used as a broken server" do
    handler = answer_expr([100, { t: 1, r: [9] }])
    expect(handler.log.map(&:first)).to eq(%i[open error close])
    expect(handler.log[1][1]).to eq(RethinkDB::ReqlDriverError)
    expect(handler.log[1][2]).to start_with("Bad response from server: a response for token")
    expect(conn).to be_closed
  end

  it "closes a stopped handler's query at its next response: STOP, closed, no on_close" do
    handler = recorder
    handle = nil
    EM.run do
      handle = r.table("t").changes.em_run(conn, handler)
      EM.next_tick do
        transport.respond(handle.token, { t: 3, r: [], n: [1] })
        handler.stop
        transport.respond(handle.token, { t: 3, r: [{ new_val: 1 }], n: [1] })
        EM.stop
      end
    end
    expect(handler.log).to eq([[:open]])
    expect(handle).to be_closed
    expect(transport.queries.last).to eq([handle.token, [3]])
  end

  it "at shutdown force-closes open queries: on_error(Connection is closed.), on_close, and STOP" do
    handler = recorder
    handle = nil
    EM.run do
      handle = r.table("t").changes.em_run(conn, handler)
      EM.next_tick { transport.respond(handle.token, { t: 3, r: [], n: [1] }) }
      EM.add_timer(0.01) { EM.stop }
    end
    expect(handler.log).to eq([[:open], [:error, RethinkDB::ReqlRuntimeError, "Connection is closed."], [:close]])
    expect(transport.queries.last).to eq([handle.token, [3]])
    expect(handle).to be_closed
  end

  it "on a lost connection, every open query gets on_error then on_close" do
    h1 = recorder
    h2 = recorder
    EM.run do
      r.table("t").changes.em_run(conn, h1)
      r.expr(1).em_run(conn, h2)
      EM.next_tick { transport.lose }
      EM.add_timer(0.01) { EM.stop }
    end
    expect(h1.log).to eq([[:open], [:error, RethinkDB::ReqlDriverError, %(Connection closed by server.\nBacktrace:\nr.table("t").changes\n^^^^^^^^^^^^^^^^^^^^)], [:close]])
    expect(h2.log).to eq([[:open], [:error, RethinkDB::ReqlDriverError, "Connection closed by server.\nBacktrace:\nr(1)\n^^^^"], [:close]])
    expect(conn).to be_closed
  end

  it "Connection#close force-closes open queries" do
    handler = recorder
    EM.run do
      r.table("t").changes.em_run(conn, handler)
      EM.next_tick do
        conn.close(noreply_wait: false)
        EM.stop
      end
    end
    expect(handler.log).to eq([[:error, RethinkDB::ReqlRuntimeError, "Connection is closed."], [:close]])
  end

  it "a synchronous run inside a callback reads the socket itself while the reactor is busy" do
    got = nil
    EM.run do
      handle = r.expr(1).em_run(conn) do |_v|
        server = Thread.new do
          sleep 0.001 until transport.queries.size >= 2
          transport.respond_directly(transport.queries.last[0], { t: 1, r: [42] })
        end
        got = r.expr(41).add(1).run(conn)
        server.join
        EM.stop
      end
      EM.next_tick { transport.respond(handle.token, { t: 1, r: [1] }) }
    end
    expect(got).to eq(42)
  end
end
