# frozen_string_literal: true
require_relative "rethinkdb_helper"

# em_run against reqlite: call forms and argument errors (RETHINKDB.md §2.1),
# Handler callbacks and their arity rules (§2.2), QueryHandle (§2.3), stop
# (§2.4), several queries on one connection, synchronous run inside callbacks.
RSpec.describe "em_run", :rethinkdb, :reqlite, :em_run do
  let(:conn) { RethinkDBSpec.connect(db: "test") }

  before { RethinkDBSpec.reset_test_db(conn) }

  after do
    RethinkDB::RQL.set_default_conn(nil)
    conn.close(noreply_wait: false)
  end

  # A Handler that records its calls.
  def recorder(&extra) = RethinkDBSpec.recorder(:open, :close, :val, &extra).new

  describe "arguments (§2.1)" do
    it "must be called inside EM.run" do
      expect { r.expr(1).em_run(conn) { nil } }
        .to raise_error(RuntimeError, "RethinkDB::RQL::em_run can only be called inside `EM.run`")
      expect { r.em_run(conn) { nil } }.to raise_error(RuntimeError, /can only be called inside `EM.run`/)
    end

    it "refuses an unbound r" do
      EM.run do
        expect { r.em_run(conn) { nil } }.to raise_error(NoMethodError, "undefined method `em_run'")
        EM.stop
      end
    end

    it "refuses a second connection, Hash or callback, and other arguments" do
      EM.run do
        q = r.expr(1)
        expect { q.em_run(conn, conn) { nil } }.to raise_error(ArgumentError, "Unexpected second Connection #{conn.inspect}.")
        expect { q.em_run(conn, {}, { a: 1 }) { nil } }.to raise_error(ArgumentError, 'Unexpected second Hash {:a=>1}.')
        proc1 = proc { nil }
        expect { q.em_run(conn, proc1, RethinkDB::Handler.new) }
          .to raise_error(ArgumentError, /\AUnexpected second callback #<RethinkDB::Handler/)
        expect { q.em_run(conn, RethinkDB::Handler, proc1) }
          .to raise_error(ArgumentError, "Unexpected second callback #{proc1.inspect}.")
        expect { q.em_run(conn, :x) }.to raise_error(ArgumentError, "Unexpected argument :x (got [#{conn.inspect}, :x]).")
        EM.stop
      end
    end

    it "instantiates a Handler class before looking at the arguments" do
      EM.run do
        expect { r.expr(1).em_run(conn, String) }
          .to raise_error(ArgumentError, %(Unexpected argument "" (got [#{conn.inspect}, ""]).))
        EM.stop
      end
    end

    it "needs a connection, and takes the repl one" do
      EM.run do
        expect { r.expr(1).em_run { nil } }.to raise_error(
          ArgumentError, "No connection specified!\nUse `query.run(conn)` or `conn.repl(); query.run`."
        )
        EM.stop
      end
      conn.repl
      got = []
      em_run_until_closed { r.expr(4).em_run { |v| got << v } }
      expect(got).to eq([4])
    end

    it "validates time_format, group_format and binary_format" do
      EM.run do
        expect { r.expr(1).em_run(conn, time_format: "x") { nil } }
          .to raise_error(ArgumentError, "`time_format` must be 'raw' or 'native' (got `x`).")
        expect { r.expr(1).em_run(conn, group_format: nil, binary_format: "nope") { nil } }
          .to raise_error(ArgumentError, "`binary_format` must be 'raw' or 'native' (got `nope`).")
        EM.stop
      end
    end

    it "refuses blocks of other arities, and no handler at all" do
      EM.run do
        expect { r.expr(1).em_run(conn) { |_a, _b, _c| nil } }.to raise_error(
          ArgumentError,
          "Wrong number of arguments for callback (callback accepts 3 arguments, but it should accept 0, 1 or 2)."
        )
        expect { r.expr(1).em_run(conn, ->(_a, _b, _c, *_d) {}) }.to raise_error(ArgumentError, /accepts -4 arguments/)
        expect { r.expr(1).em_run(conn) }.to raise_error(ArgumentError, "No handler specified.")
        expect { r.expr(1).em_run(conn, {}) }.to raise_error(ArgumentError, "No handler specified.")
        EM.stop
      end
    end

    it "uses the block only when no callback argument is given" do
      handler = recorder
      block_calls = 0
      em_run_until_closed { r.expr(1).em_run(conn, handler) { block_calls += 1 } }
      expect(block_calls).to eq(0)
      expect(handler.log).to eq([[:open], [:val, 1], [:close]])
    end

    it "sends every option as a global optarg, with include_states for a handler with on_state" do
      RethinkDBSpec::SpyTransport.inner = RethinkDBSpec.transport
      spy_conn = RethinkDBSpec.connect(db: "test", transport: RethinkDBSpec::SpyTransport)
      transport = spy_conn.instance_variable_get(:@transport)
      stateful = recorder { def on_state(state) = @log << [:state, state] }
      em_run_until_closed do
        [r.expr(1).em_run(spy_conn, stateful), r.expr(2).em_run(spy_conn, { time_format: :raw, foo: 1 }) { nil }]
      end
      starts = transport.queries.select { |_token, query| query[0] == 1 }.map { |_token, query| query }
      expect(JSON.generate(starts[0])).to eq('[1,1,{"db":[14,["test"]],"include_states":true}]')
      expect(starts[1][2]).to eq({ "db" => [14, ["test"]], "time_format" => "raw", "foo" => 1 })
    ensure
      spy_conn&.close(noreply_wait: false)
    end

    it "returns the QueryHandle; with noreply the handler is never called and the handle stays open" do
      handler = recorder
      handle = nil
      EM.run do
        handle = r.table("test").insert({ id: 1 }).em_run(conn, { noreply: true }, handler)
        EM.add_timer(0.2) { EM.stop }
      end
      expect(handle).to be_a(RethinkDB::QueryHandle)
      expect(handle).not_to be_closed
      expect(handler.log).to eq([])
      expect(r.table("test").get(1).run(conn)).to eq({ "id" => 1 })
    end
  end

  describe "Handler callbacks (§2.2)" do
    it "passes the handle to callbacks that take one more argument" do
      handler = Class.new(RethinkDB::Handler) do
        attr_reader :log

        def initialize
          super
          @log = []
        end

        def on_open(handle) = @log << [:open, handle]
        def on_val(val, handle) = @log << [:val, val, handle]
        def on_close(*args) = @log << [:close, *args]
      end.new
      handle = em_run_until_closed { r.expr(7).em_run(conn, handler) }.first
      expect(handler.log).to eq([[:open, handle], [:val, 7, handle], [:close, handle]])
    end

    it "calls a callback without parameters without arguments" do
      handler = recorder { def on_val = @log << [:val_without_args] }
      em_run_until_closed { r.expr([1, 2]).em_run(conn, handler) }
      expect(handler.log).to eq([[:open], [:val_without_args], [:val_without_args], [:close]])
    end

    it "routes atoms to on_atom then on_val, arrays element by element to on_stream_val" do
      handler = recorder { def on_stream_val(val) = @log << [:stream_val, val] }
      em_run_until_closed { [r.expr("a").em_run(conn, handler)] }
      em_run_until_closed { [r.expr([1, 2]).em_run(conn, handler)] }
      em_run_until_closed { [r.expr([]).em_run(conn, handler)] }
      expect(handler.log).to eq([
        [:open], [:val, "a"], [:close],
        [:open], [:stream_val, 1], [:stream_val, 2], [:close],
        [:open], [:close]
      ])
    end

    it "gives a whole array to on_atom when a subclass defines on_atom" do
      handler = recorder { def on_atom(val) = @log << [:atom, val] }
      em_run_until_closed { r.expr([1, 2]).em_run(conn, handler) }
      expect(handler.log).to eq([[:open], [:atom, [1, 2]], [:close]])
    end

    it "stops going through an array once the handler is stopped" do
      handler = recorder do
        def on_val(val)
          @log << [:val, val]
          stop if val == 2
        end
      end
      em_run_until_closed { r.expr([1, 2, 3]).em_run(conn, handler) }
      expect(handler.log).to eq([[:open], [:val, 1], [:val, 2]])
    end

    it "raises errors out of EM.run by default, and stops a handler whose callback raised" do
      expect { EM.run { r.expr(1).add("a").em_run(conn, RethinkDB::Handler) } }
        .to raise_error(RethinkDB::ReqlRuntimeError, /\AExpected type NUMBER but found STRING\nBacktrace:/)
      handler = recorder { def on_val(_val) = raise(ArgumentError, "mine") }
      expect { EM.run { r.expr(1).em_run(conn, handler) } }.to raise_error(ArgumentError, "mine")
      expect(handler).to be_stopped
      expect(handler.log).to eq([[:open]])
    end

    it "runs a Handler subclass that skips super in initialize" do
      handler = Class.new(RethinkDB::Handler) do
        attr_reader :vals

        def initialize = @vals = [] # no super: @stopped stays nil, which is falsy
        def on_val(val) = @vals << val
      end.new
      em_run_until_closed { r.expr([1, 2]).em_run(conn, handler) }
      expect(handler.vals).to eq([1, 2])
    end

    describe "blocks" do
      it "calls a block without parameters once per value, and raises errors" do
        calls = 0
        em_run_until_closed { r.expr([1, 2, 3]).em_run(conn) { calls += 1 } }
        expect(calls).to eq(3)
        expect { EM.run { r.expr(1).add("a").em_run(conn) { nil } } }.to raise_error(RethinkDB::ReqlRuntimeError)
      end

      it "gives a two-parameter (or splat) block (nil, val) or (err, nil)" do
        got = []
        em_run_until_closed do
          [
            r.expr([1, 2]).em_run(conn) { |err, val| got << [:two, err, val] },
            r.expr(3).em_run(conn) { |*args| got << [:splat, *args] },
            r.expr(1).add("a").em_run(conn) { |err, val| got << [:two, err.class, val] },
            r.expr(4).em_run(conn, ->(err, *rest) { got << [:lambda, err, *rest] })
          ]
        end
        expect(got).to contain_exactly(
          [:two, nil, 1], [:two, nil, 2], [:splat, nil, 3], [:two, RethinkDB::ReqlRuntimeError, nil], [:lambda, nil, 4]
        )
      end

      it "never calls a block for an empty array" do
        calls = 0
        em_run_until_closed { r.expr([]).em_run(conn) { |_v| calls += 1 } }
        expect(calls).to eq(0)
      end
    end

    it "decodes pseudo-types by the query's formats" do
      got = []
      em_run_until_closed do
        [
          r.epoch_time(1.5).em_run(conn) { |t| got << t },
          r.epoch_time(1.5).em_run(conn, time_format: "raw") { |t| got << t }
        ]
      end
      expect(got).to contain_exactly(Time.at(1.5), { "$reql_type$" => "TIME", "epoch_time" => 1.5, "timezone" => "+00:00" })
    end
  end

  describe "QueryHandle (§2.3) and stop (§2.4)" do
    it "closes before any response: on_close at once, never on_open, STOP to the server" do
      handler = recorder
      results = []
      EM.run do
        handle = r.expr(1).em_run(conn, handler)
        results << handle.close << handle.closed? << handle.close
        EM.add_timer(0.2) { EM.stop }
      end
      expect(results).to eq([true, true, false])
      expect(handler.log).to eq([[:close]])
    end

    it "closes a stream: the server stops sending" do
      count = 0
      EM.run do
        handle = r.range.em_run(conn) do |_n|
          count += 1
          handle.close if count == 50
        end
        EM.add_timer(0.3) { EM.stop }
      end
      expect(count).to be_between(50, 80) # the rest of the batch that was being delivered
    end

    it "after handler.stop, closes the handle at its next response without on_close, sending STOP" do
      RethinkDBSpec::SpyTransport.inner = RethinkDBSpec.transport
      spy_conn = RethinkDBSpec.connect(db: "test", transport: RethinkDBSpec::SpyTransport)
      handler = recorder do
        def on_val(val)
          @log << [:val, val]
          stop
        end
      end
      handle = nil
      EM.run do
        handle = r.table("test").changes.em_run(spy_conn, handler)
        EM.add_timer(0.1) { r.table("test").insert({ id: 1 }).run(conn) }
        EM.add_timer(0.2) { r.table("test").insert({ id: 2 }).run(conn) }
        em_until(-> { handle.closed? })
      end
      expect(handler.log).to eq([[:open], [:val, { "new_val" => { "id" => 1 }, "old_val" => nil }]])
      queries = spy_conn.instance_variable_get(:@transport).queries
      expect(queries.last).to eq([handle.token, [3]])
    ensure
      spy_conn&.close(noreply_wait: false)
    end
  end

  describe "sharing a connection" do
    it "multiplexes many queries on one connection" do
      got = {}
      em_run_until_closed do
        Array.new(100) { |i| r.expr(i).mul(2).em_run(conn) { |v| got[i] = v } }
      end
      expect(got).to eq((0...100).to_h { |i| [i, i * 2] })
    end

    it "runs synchronous queries inside em_run callbacks, on the same connection" do
      got = []
      em_run_until_closed do
        r.expr([1, 2, 3]).em_run(conn) { |v| got << r.expr(v).add(10).run(conn) }
      end
      expect(got).to eq([11, 12, 13])
    end

    it "runs synchronous queries from other threads while an em_run feed is open" do
      vals = []
      thread_results = nil
      EM.run do
        r.table("test").changes.em_run(conn) { |err, change| vals << (err ? err.message : change["new_val"]["id"]) }
        EM.defer(-> { Array.new(5) { |i| r.table("test").insert({ id: i }).run(conn)["inserted"] } },
                 ->(res) { thread_results = res })
        em_until(-> { vals.size >= 5 && thread_results })
      end
      expect(thread_results).to eq([1] * 5)
      expect(vals.first(5)).to eq([0, 1, 2, 3, 4])
      expect(vals.last).to eq("Connection is closed.")
    end

    it "keeps the connection for synchronous use after EM.run, and em_run again in a new EM.run" do
      em_run_until_closed { r.expr(1).em_run(conn) { nil } }
      expect(r.expr(2).run(conn)).to eq(2)
      got = []
      em_run_until_closed { r.expr(3).em_run(conn) { |v| got << v } }
      expect(got).to eq([3])
      expect(r.range.limit(3).run(conn)).to eq([0, 1, 2])
    end

    it "handles queries on several connections" do
      other = RethinkDBSpec.connect(db: "test")
      got = []
      em_run_until_closed do
        [r.expr(1).em_run(conn) { |v| got << v }, r.expr(2).em_run(other) { |v| got << v }]
      end
      expect(got.sort).to eq([1, 2])
    ensure
      other&.close(noreply_wait: false)
    end
  end
end
