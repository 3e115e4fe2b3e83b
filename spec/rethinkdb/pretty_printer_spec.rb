# frozen_string_literal: true
require_relative "rethinkdb_helper"

# RPP: queries printed in Ruby syntax, the backtrace's subterm underlined, as
# in the official driver's error messages (RETHINKDB.md §5). No server needed.
RSpec.describe "RethinkDB backtrace pretty-printer", :rethinkdb do
  def pp(query, backtrace = nil)
    RethinkDB::RPP.pp(query.to_pb, backtrace)
  end

  it "underlines a whole query (backtrace [])" do
    expect(pp(r.table("non_existent"), [])).to eq(<<~OUT.chomp)
      r.table("non_existent")
      ^^^^^^^^^^^^^^^^^^^^^^^
    OUT
    expect(pp(r.expr(1).add("a"), [])).to eq(<<~OUT.chomp)
      r(1).add("a")
      ^^^^^^^^^^^^^
    OUT
  end

  it "underlines the optarg a frame names" do
    expect(pp(r.table("t").order_by(index: r.desc("x")), ["index"])).to eq(<<~OUT.chomp)
      r.table("t").order_by({"index" => r.desc("x")})
                                        ^^^^^^^^^^^
    OUT
  end

  it "underlines the argument a frame numbers" do
    expect(pp(r.expr(1).add("a"), [1])).to eq(<<~OUT.chomp)
      r(1).add("a")
               ^^^
    OUT
    expect(pp(r.table("t").get(0), [0])).to eq(<<~OUT.chomp)
      r.table("t").get(0)
      ^^^^^^^^^^^^
    OUT
  end

  it "breaks a query wider than 79 columns and underlines every line of the span" do
    query = r.table("users").order_by(index: r.desc("posts")).limit(10)
             .changes(include_initial: true, include_states: true)
    expect(pp(query, [])).to eq(<<~OUT.chomp)
      r.table("users").order_by({"index" => r.desc("posts")}).limit(
      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
        10
        ^^
      ).changes({"include_initial" => true, "include_states" => true})
      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
    OUT
  end

  it "prints no carets without a backtrace, or when the backtrace leads elsewhere" do
    expect(pp(r.table("t").get(0))).to eq('r.table("t").get(0)')
    expect(pp(r.table("t").get(0), [5])).to eq('r.table("t").get(0)')
  end

  it "prints table as r.table unless it has a db, and top-level terms as r.name" do
    expect(pp(r.db("test").table("t"))).to eq('r.db("test").table("t")')
    expect(pp(r.table_create("t"))).to eq('r.table_create("t")')
    expect(pp(r.db("d").table_drop("t"))).to eq('r.db("d").table_drop("t")')
    expect(pp(r.range(3).map { |x| x })).to match(/\Ar\.range\(3\)\.map \{\|var_\d+\| var_\d+\}\z/)
    expect(pp(r.branch(true, 1, 2))).to eq("r.branch(true, 1, 2)")
    expect(pp(r.epoch_time(1))).to eq("r.epoch_time(1)")
    expect(pp(r.now)).to eq("r.now")
  end

  it "prints term names, not operators, and [] for BRACKET" do
    query = r.table("t").filter { |row| row["id"] > 0 }
    id = query.to_pb[1][1][1][0][1][0]
    expect(pp(query)).to eq(%(r.table("t").filter {|var_#{id}| var_#{id}["id"].gt(0)}))
  end

  it "underlines inside a function body (frame 1 of the FUNC)" do
    query = r.table("test").filter { |row| row["id"].add("a") }
    id = query.to_pb[1][1][1][0][1][0]
    expect(pp(query, [1, 1])).to eq(<<~OUT.chomp)
      r.table("test").filter {|var_#{id}| var_#{id}["id"].add("a")}
      #{' ' * (31 + id.to_s.size)}#{'^' * (19 + id.to_s.size)}
    OUT
  end

  it "prints do as x.do {|var| ...} and r.do(a, b) {|x, y| ...}" do
    query = r.expr(1).do { |x| x.add("a") }
    id = query.to_pb[1][0][1][0][1][0]
    expect(pp(query)).to eq(%(r(1).do {|var_#{id}| var_#{id}.add("a")}))
    expect(pp(query, [1])).to eq("r(1).do {|var_#{id}| var_#{id}.add(\"a\")}\n^^^^")
    two = r.do(1, 2) { |a, b| a + b }
    a, b = two.to_pb[1][0][1][0][1]
    expect(pp(two)).to eq("r.do(1, 2) {|var_#{a}, var_#{b}| var_#{a}.add(var_#{b})}")
    expect(pp(r.expr(1).do(r.js("f")))).to eq('r(1).do(r.javascript("f"))')
  end

  it "prints arrays, objects, times and binaries" do
    expect(pp(r.expr([1, "a", nil]))).to eq('r([1, "a", nil])')
    expect(pp(r.expr({ a: 1, b: [2] }))).to eq('r({"a" => 1, "b" => [2]})')
    # A Ruby Time is sent with its offset, so even a UTC time comes back as +00:00.
    expect(pp(r.expr(Time.at(0).utc))).to eq("r.expr(1970-01-01 00:00:00 +0000)")
    expect(RethinkDB::RPP.pp({ "$reql_type$" => "TIME", "epoch_time" => 0, "timezone" => "Z" }))
      .to eq("r.expr(1970-01-01 00:00:00 UTC)")
    expect(pp(r.expr(Time.at(0).getlocal("+01:00")))).to eq("r.expr(1970-01-01 01:00:00 +0100)")
    expect(pp(r.binary("ab"))).to eq("r.binary(<data>)")
    expect(pp(r.table("t").insert({ id: 1, at: Time.at(0).utc })))
      .to eq('r.table("t").insert({"id" => 1, "at" => r.expr(1970-01-01 00:00:00 +0000)})')
  end

  it "inspects datums with Ruby's inspect" do
    expect(pp(r.expr("a\"b"))).to eq('r("a\"b")')
    expect(pp(r.expr(1.5).add(:s))).to eq("r(1.5).add(:s)")
  end

  it "is what RQL#inspect prints" do
    expect(r.table("t").order_by(index: "id").inspect).to eq('r.table("t").order_by({"index" => "id"})')
  end

  it "falls back to a plain dump when the term is malformed" do
    expect(RethinkDB::RPP.pp([9999, [1]])).to start_with("AN ERROR OCCURED DURING PRETTY-PRINTING:\n")
  end
end
