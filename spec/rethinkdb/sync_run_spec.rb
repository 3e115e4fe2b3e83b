# frozen_string_literal: true
require_relative "rethinkdb_helper"

# Synchronous `run` against reqlite: values, cursors, noreply, options and
# errors. reqlite answers finite sequences (table reads, r.range(n)) as one
# SUCCESS_ATOM array, so `run` returns an Array for them where RethinkDB returns
# a Cursor; infinite r.range and changefeeds are real streams (RETHINKDB.md §7).
RSpec.describe "RethinkDB synchronous run", :rethinkdb, :reqlite do
  let(:conn) { RethinkDBSpec.connect(db: "test") }

  before { RethinkDBSpec.reset_test_db(conn) }
  after { conn.close(noreply_wait: false) }

  it "returns atoms, objects and arrays" do
    expect(r.expr(1).run(conn)).to eq(1)
    expect(r.expr({ a: [1, nil, "s"] }).run(conn)).to eq({ "a" => [1, nil, "s"] })
    expect(r(5).add(1).run(conn)).to eq(6)
    expect((5 + r.expr(1)).run(conn)).to eq(6)
    expect(r.expr([1, 2, 3, 4])[1..2].run(conn)).to eq([2, 3])
    expect(r.expr([1, 2, 3, 4])[1...2].run(conn)).to eq([2])
  end

  it "writes and reads a table (as an array on reqlite)" do
    expect(r.table("test").insert([{ id: 0 }, { id: 1 }, { id: 2 }]).run(conn)["inserted"]).to eq(3)
    expect(r.table("test").order_by(index: "id").run(conn)).to eq([{ "id" => 0 }, { "id" => 1 }, { "id" => 2 }])
    expect(r.table("test").get(1).run(conn)).to eq({ "id" => 1 })
    expect(r.table("test").filter { |row| row["id"] > 0 }.count.run(conn)).to eq(2)
    expect(r.table("test").update { |d| { n: d["id"].add(10) } }.run(conn)["replaced"]).to eq(3)
    expect(r.table("test").get(2)["n"].run(conn)).to eq(12)
    expect(r.table("test").insert({ id: 1, n: 0 }, conflict: "replace").run(conn)["replaced"]).to eq(1)
    expect(r.table("test").get(1).delete.run(conn)["deleted"]).to eq(1)
  end

  it "returns a Cursor for a stream: next, then close" do
    cursor = r.range.run(conn)
    expect(cursor).to be_a(RethinkDB::Cursor)
    expect(Array.new(45) { cursor.next }).to eq((0...45).to_a) # crosses a 40-row batch
    expect(cursor.close).to be(true)
    expect(cursor.close).to be(false)
    expect(r.expr(9).run(conn)).to eq(9) # the connection goes on
  end

  it "iterates a cursor once with each, which ends on SUCCESS_SEQUENCE" do
    writer = RethinkDBSpec.connect(db: "test")
    cursor = r.table("test").changes.limit(3).run(conn)
    Thread.new do
      3.times { |i| r.table("test").insert({ id: i }).run(writer) }
    end.join
    rows = []
    expect(cursor.each { |row| rows << row }).to equal(cursor)
    expect(rows.map { |row| row["new_val"]["id"] }.sort).to eq([0, 1, 2])
    expect(rows.first).to have_key("old_val")
    expect { cursor.each { nil } }.to raise_error(RethinkDB::ReqlRuntimeError, "Can only iterate over a cursor once.")
    expect { cursor.next }.to raise_error(RethinkDB::ReqlRuntimeError, "Cannot call `next` on a cursor after calling `each`.")
  ensure
    writer&.close(noreply_wait: false)
  end

  it "raises StopIteration at the end of a cursor, and to_a collects it" do
    writer = RethinkDBSpec.connect(db: "test")
    cursor = r.table("test").changes.limit(2).run(conn)
    2.times { |i| r.table("test").insert({ id: i }).run(writer) }
    expect(cursor.next(2)["new_val"]).to eq({ "id" => 0 })
    expect(cursor.next(2)["new_val"]).to eq({ "id" => 1 })
    expect { cursor.next(2) }.to raise_error(StopIteration)
    cursor2 = r.table("test").changes.limit(1).run(conn)
    r.table("test").insert({ id: 5 }).run(writer)
    expect(cursor2.to_a).to eq([{ "new_val" => { "id" => 5 }, "old_val" => nil }])
  ensure
    writer&.close(noreply_wait: false)
  end

  it "times out next(seconds) and next(false) on a quiet feed" do
    cursor = r.table("test").changes.run(conn)
    expect { cursor.next(false) }.to raise_error(Timeout::Error, "Timed out waiting for cursor response.")
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    expect { cursor.next(0.2) }.to raise_error(Timeout::Error)
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be >= 0.19
    r.table("test").insert({ id: 1 }).run(conn)
    expect(cursor.next(2)).to eq({ "new_val" => { "id" => 1 }, "old_val" => nil })
    cursor.close
  end

  it "inspects a cursor with its query and a preview" do
    cursor = r.range.run(conn)
    expect(cursor.inspect).to match(/\A#<RethinkDB::Cursor:\d+ \(enumerable\): r\.range\n\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \.\.\.\]>\z/)
    cursor.close
  end

  it "calls a block with the value, and closes a cursor after it" do
    expect(r.expr(3).run(conn) { |v| v * 2 }).to eq(6)
    kept = nil
    r.range.run(conn) { |cursor| kept = cursor; cursor.next }
    expect(kept.close).to be(false)
  end

  it "returns nil at once with noreply: true (reqlite still answers; the answer is dropped)" do
    expect(r.table("test").insert({ id: 7 }).run(conn, noreply: true)).to be_nil
    wait_until { r.table("test").get(7).run(conn) }
    expect(r.expr(1).run(conn)).to eq(1)
  end

  it "runs many queries from many threads on one connection" do
    per_thread = ENV["GC_STRESS"] ? 2 : 25
    results = Array.new(8) do |t|
      Thread.new { Array.new(per_thread) { |i| r.expr(t * 100 + i).run(conn) } }
    end.map(&:value)
    expect(results).to eq(Array.new(8) { |t| Array.new(per_thread) { |i| t * 100 + i } })
  end

  it "decodes times, groups and binaries, or not with the *_format options" do
    expect(r.epoch_time(1.5).run(conn)).to eq(Time.at(1.5))
    expect(r.now.run(conn)).to be_a(Time)
    expect(r.expr(Time.at(1.5).getlocal("-05:30")).run(conn).utc_offset).to eq(-19_800)
    expect(r.epoch_time(1.5).run(conn, time_format: "raw"))
      .to eq({ "$reql_type$" => "TIME", "epoch_time" => 1.5, "timezone" => "+00:00" })
    expect(r.expr([1, 2, 1]).group { |x| x }.count.run(conn)).to eq({ 1 => 2, 2 => 1 })
    expect(r.expr([1, 2, 1]).group { |x| x }.count.run(conn, group_format: :raw)["$reql_type$"]).to eq("GROUPED_DATA")
    binary = r.expr("abc").coerce_to("binary").run(conn)
    expect(binary).to be_a(RethinkDB::Binary)
    expect(binary).to eq("abc".b)
    expect(r.expr("abc").coerce_to("binary").run(conn, binary_format: "raw"))
      .to eq({ "$reql_type$" => "BINARY", "data" => "YWJj" })
    expect(r.table("test").insert({ id: 1, at: Time.at(86_400).utc }).run(conn)["inserted"]).to eq(1)
    expect(r.table("test").get(1)["at"].run(conn)).to eq(Time.at(86_400))
  end

  it "validates the *_format options" do
    expect { r.expr(1).run(conn, time_format: "weird") }
      .to raise_error(ArgumentError, "`time_format` must be 'raw' or 'native' (got `weird`).")
    expect { r.expr(1).run(conn, group_format: 1) }
      .to raise_error(ArgumentError, "`group_format` must be 'raw' or 'native' (got `1`).")
    expect { r.expr(1).run(conn, binary_format: :x) }
      .to raise_error(ArgumentError, "`binary_format` must be 'raw' or 'native' (got `x`).")
  end

  it "parses its arguments in any order and refuses strays" do
    expect(r.expr(1).run({}, conn)).to eq(1)
    expect { r.expr(1).run(conn, conn) }.to raise_error(ArgumentError, /\AUnexpected second Connection #<RethinkDB::Connection/)
    expect { r.expr(1).run(conn, {}, {}) }.to raise_error(ArgumentError, "Unexpected second Hash {}.")
    expect { r.expr(1).run(conn, 5) }.to raise_error(ArgumentError, /\AUnexpected argument 5 \(got \[#<RethinkDB::Connection.*, 5\]\)\.\z/)
    expect { r.expr(1).run(conn, RethinkDB::Handler) }
      .to raise_error(RuntimeError, "Cannot call `run` with a handler, did you mean `em_run`?")
  end

  describe "errors from the server" do
    # reqlite sends no error type, so every runtime error is a ReqlRuntimeError,
    # and its messages lack the final period of RethinkDB's (RETHINKDB.md §7).
    it "raises with the message and the query, the failing part underlined" do
      expect { r.table("non_existent").run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError, <<~MSG.chomp)
        Table `test.non_existent` does not exist
        Backtrace:
        r.table("non_existent")
        ^^^^^^^^^^^^^^^^^^^^^^^
      MSG
      expect { r.expr(1).add("a").run(conn) }.to raise_error(RethinkDB::RqlRuntimeError, <<~MSG.chomp)
        Expected type NUMBER but found STRING
        Backtrace:
        r(1).add("a")
        ^^^^^^^^^^^^^
      MSG
    end

    it "underlines inside functions, from the server's backtrace" do
      query = r.table("test").filter { |row| row["id"].add("a") }
      id = query.to_pb[1][1][1][0][1][0]
      r.table("test").insert({ id: 1 }).run(conn)
      expect { query.run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError) { |e|
        expect(e.message.lines.last(2).join).to eq(
          %(r.table("test").filter {|var_#{id}| var_#{id}["id"].add("a")}\n) +
          (" " * (31 + id.to_s.size)) + ("^" * (19 + id.to_s.size))
        )
      }
    end

    it "reports an unsupported order_by(index: r.desc).limit.changes as reqlite's TODO error" do
      query = r.table("test").order_by(index: r.desc("id")).limit(2).changes
      expect { query.run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError, <<~MSG.chomp)
        TODO
        Backtrace:
        r.table("test").order_by({"index" => r.desc("id")}).limit(2).changes
        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      MSG
    end

    it "makes a response without a type an unexpected response (reqlite's crash on r.binary)" do
      expect { r.binary("abc").run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError, /\AUnexpected response: \{.*"debug"=>/m)
    end
  end
end
