# frozen_string_literal: true
require_relative "rethinkdb_helper"

# The query builder: what each call serializes to (the JSON sent to the
# server), by the official driver's rules (RETHINKDB.md §4). No server needed.
RSpec.describe "RethinkDB query builder", :rethinkdb do
  def json(query)
    JSON.generate(query.to_pb)
  end

  # The VAR ids of the FUNC terms in a body, in order of appearance.
  def var_ids(body, found = [])
    if body.is_a?(Array) && body[0] == RethinkDB::Term::TermType::FUNC
      found.concat(body[1][0][1])
      var_ids(body[1][1], found)
    elsif body.is_a?(Array)
      body.each { |item| var_ids(item, found) }
    elsif body.is_a?(Hash)
      body.each_value { |item| var_ids(item, found) }
    end
    found
  end

  describe "the exact terms of RETHINKDB.md §4" do
    it "builds tables, order_by with an optarg, get and arrays" do
      expect(json(r.table("test").order_by(index: "id"))).to eq('[41,[[15,["test"]]],{"index":"id"}]')
      expect(json(r.table("test").get(0))).to eq('[16,[[15,["test"]],0]]')
      expect(json(r.expr([1, 2, 3]))).to eq("[2,[1,2,3]]")
    end

    it "builds an order_by.limit changefeed with r.desc, with and without changes optargs" do
      feed = r.table("users").order_by(index: r.desc("posts")).limit(10)
      expect(json(feed.changes)).to eq('[152,[[71,[[41,[[15,["users"]]],{"index":[74,["posts"]]}],10]]]]')
      expect(json(feed.changes(include_initial: true, include_states: true)))
        .to eq('[152,[[71,[[41,[[15,["users"]]],{"index":[74,["posts"]]}],10]]],' \
               '{"include_initial":true,"include_states":true}]')
    end

    it "turns a block into FUNC with VAR terms, and [] into BRACKET" do
      query = r.table("t").filter { |row| row["id"] > 0 }
      id = var_ids(query.to_pb).first
      expect(json(query)).to eq(%([39,[[15,["t"]],[69,[[2,[#{id}]],[21,[[170,[[10,[#{id}]],"id"]],0]]]]]]))
    end

    it "takes a Hash as data where a method has no optargs position for it" do
      expect(json(r.table("t").filter({ a: 1 }))).to eq('[39,[[15,["t"]],{"a":1}]]')
    end

    it "sends Hashes as plain JSON objects and Arrays as MAKE_ARRAY, nested" do
      expect(json(r.expr({ a: [1, { b: 2 }] }))).to eq('{"a":[2,[1,{"b":2}]]}')
    end

    it "builds do as FUNCALL with the function first" do
      query = r.expr(1).do { |x| x + 1 }
      id = var_ids(query.to_pb).first
      expect(json(query)).to eq(%([64,[[69,[[2,[#{id}]],[24,[[10,[#{id}]],1]]]],1]]))
    end

    it "slices with a Range" do
      expect(json(r.expr([1, 2, 3, 4])[1..2])).to eq('[30,[[2,[1,2,3,4]],1,2],{"right_bound":"closed"}]')
      expect(json(r.expr([1, 2, 3, 4])[1...2])).to eq('[30,[[2,[1,2,3,4]],1,2],{"right_bound":"open"}]')
    end

    it "takes insert's optargs from its second argument" do
      expect(json(r.table("t").insert({ id: 1 }, conflict: "replace")))
        .to eq('[56,[[15,["t"]],{"id":1}],{"conflict":"replace"}]')
    end

    it "builds update with a block returning an object" do
      query = r.table("t").update { |d| { n: d["n"] + 1 } }
      id = var_ids(query.to_pb).first
      expect(json(query)).to eq(%([53,[[15,["t"]],[69,[[2,[#{id}]],{"n":[24,[[170,[[10,[#{id}]],"n"]],1]]}]]]]))
    end

    it "builds a table of a db with an optarg" do
      expect(json(r.db("test").table("t", read_mode: "outdated")))
        .to eq('[15,[[14,["test"]],"t"],{"read_mode":"outdated"}]')
    end

    it "sends a Time as a TIME pseudo-type with its offset" do
      expect(json(r.expr(Time.at(1.5).getlocal("-05:30"))))
        .to eq('{"$reql_type$":"TIME","epoch_time":1.5,"timezone":"-05:30"}')
    end

    it "sends r.binary of a string as BINARY around a base64 pseudo-type" do
      expect(json(r.binary("ab"))).to eq('[155,[{"$reql_type$":"BINARY","data":"YWI="}]]')
    end

    it "maps operators: +, unary minus, |" do
      expect(json(r.expr(5) + 1)).to eq("[24,[5,1]]")
      expect(json(-r.expr(5))).to eq("[25,[0,5]]")
      expect(json(r.expr(1) | false)).to eq("[66,[1,false]]")
    end
  end

  describe "term methods" do
    it "has one method per ql2.proto term type, downcased" do
      missing = (RethinkDB::Term::TermType.constants - [:BINARY]).reject { |c| r.respond_to?(c.downcase) }
      expect(missing).to eq([])
      expect(RethinkDB::Term::TermType.constants.size).to eq(186)
    end

    it "numbers every term by ql2.proto" do
      expect(json(r.db_list)).to eq("[59,[]]")
      expect(json(r.db("d").table_list)).to eq('[62,[[14,["d"]]]]')
      expect(json(r.table("t").count)).to eq('[43,[[15,["t"]]]]')
      expect(json(r.table("t").delete)).to eq('[54,[[15,["t"]]]]')
      expect(json(r.table("t").index_create("i"))).to eq('[75,[[15,["t"]],"i"]]')
      expect(json(r.table("t").index_list)).to eq('[77,[[15,["t"]]]]')
      expect(json(r.table("t").index_wait)).to eq('[140,[[15,["t"]]]]')
      expect(json(r.table_create("t"))).to eq('[60,["t"]]')
      expect(json(r.table_drop("t"))).to eq('[61,["t"]]')
      expect(json(r.epoch_time(1))).to eq("[101,[1]]")
      expect(json(r.range(3))).to eq("[173,[3]]")
      expect(json(r.table("t").get_field("a"))).to eq('[31,[[15,["t"]],"a"]]')
      expect(json(r.error("boom"))).to eq('[12,["boom"]]')
      expect(json(r.js("1"))).to eq('[11,["1"]]')
      expect(json(r.expr(1).eq(1))).to eq("[17,[1,1]]")
      expect(json(r.now)).to eq("[103,[]]")
      expect(json(r.uuid)).to eq("[169,[]]")
      expect(json(r.expr("a").match("a"))).to eq('[97,["a","a"]]')
      expect(json(r.expr([1]).sample(1))).to eq("[81,[[2,[1]],1]]")
    end

    it "defines the official aliases" do
      one = r.expr(1)
      {
        :< => 19, :<= => 20, :> => 21, :>= => 22, :+ => 24, :- => 25, :* => 26, :/ => 27, :% => 28,
        :| => 66, :& => 67, :bitand => 191, :bitor => 192, :bitxor => 193, :bitsal => 195, :bitsar => 196
      }.each do |name, number|
        expect(one.public_send(name, 2).to_pb).to eq([number, [1, 2]]), name.to_s
      end
      expect(one.bitnot.to_pb).to eq([194, [1]])
      expect(r.table("t").orderby("a").to_pb[0]).to eq(41)
      expect(r.table("t").concatmap { |x| x }.to_pb[0]).to eq(40)
      expect(r.table("t").foreach { |x| x }.to_pb[0]).to eq(68)
      expect(r.js("1").to_pb[0]).to eq(11)
      expect(one.typeof.to_pb).to eq([52, [1]])
      expect(one.not.to_pb).to eq([23, [1]])
      expect(one.or(2).to_pb).to eq([66, [1, 2]])
      expect(one.and(2).to_pb).to eq([67, [1, 2]])
    end

    it "adds the receiver only when bound" do
      expect(r.add(1, 2).to_pb).to eq([24, [1, 2]])
      expect(r.expr(1).add(2).to_pb).to eq([24, [1, 2]])
    end

    it "appends a block as the last argument" do
      query = r.table("t").map { |x| x }
      id = var_ids(query.to_pb).first
      expect(query.to_pb).to eq([38, [[15, ["t"]], [69, [[2, [id]], [10, [id]]]]]])
    end

    it "gives a two-parameter block two VARs from one process-wide counter" do
      first = r.expr([1]).reduce { |a, b| a + b }
      second = r.expr([1]).map { |x| x }
      a, b = var_ids(first.to_pb)
      expect(b).to eq(a + 1)
      expect(var_ids(second.to_pb)).to eq([b + 1])
      expect(first.to_pb[1][1]).to eq([69, [[2, [a, b]], [24, [[10, [a]], [10, [b]]]]]])
    end

    it "gives a block without parameters no VARs" do
      expect(r.expr(1).do { 2 }.to_pb).to eq([64, [[69, [[2, []], 2]], 1]])
    end

    it "builds r.desc and r.asc as ordinary terms, also with a block" do
      expect(r.desc("f").to_pb).to eq([74, ["f"]])
      expect(r.asc("f").to_pb).to eq([73, ["f"]])
      desc = r.desc { |row| row["f"] }
      id = var_ids(desc.to_pb).first
      expect(desc.to_pb).to eq([74, [[69, [[2, [id]], [170, [[10, [id]], "f"]]]]]])
    end
  end

  describe "optargs positions" do
    it "takes a trailing Hash where the position is -1" do
      expect(json(r.table("t").get_all(1, 2, index: "x"))).to eq('[78,[[15,["t"]],1,2],{"index":"x"}]')
      expect(json(r.table("t").delete(durability: "soft"))).to eq('[54,[[15,["t"]]],{"durability":"soft"}]')
      expect(json(r.table("t").changes(squash: true))).to eq('[152,[[15,["t"]]],{"squash":true}]')
      expect(json(r.table_create("t", primary_key: "k"))).to eq('[60,["t"],{"primary_key":"k"}]')
      expect(json(r.expr([1]).union([2], interleave: false))).to eq('[44,[[2,[1]],[2,[2]]],{"interleave":false}]')
      expect(json(r.table("t").min(index: "i"))).to eq('[147,[[15,["t"]]],{"index":"i"}]')
      expect(json(r.table("t").max(index: "i"))).to eq('[148,[[15,["t"]]],{"index":"i"}]')
      expect(json(r.random(1, 2, float: true))).to eq('[151,[1,2],{"float":true}]')
    end

    it "takes between's optargs from its third argument" do
      expect(json(r.table("t").between(1, 2, index: "i"))).to eq('[182,[[15,["t"]],1,2],{"index":"i"}]')
      expect(json(r.table("t").between(1, 2))).to eq('[182,[[15,["t"]],1,2]]')
    end

    it "takes update/replace/filter optargs from the first argument with a block, else the second" do
      expect(json(r.table("t").update({ a: 1 }, durability: "soft")))
        .to eq('[53,[[15,["t"]],{"a":1}],{"durability":"soft"}]')
      expect(json(r.table("t").replace({ id: 1 }, return_changes: true)))
        .to eq('[55,[[15,["t"]],{"id":1}],{"return_changes":true}]')
      expect(json(r.table("t").filter({ a: 1 }, default: true))).to eq('[39,[[15,["t"]],{"a":1}],{"default":true}]')
      query = r.table("t").filter(default: true) { |x| x["a"] }
      expect(query.to_pb[2]).to eq({ "default" => true })
      expect(query.to_pb[1].size).to eq(2)
    end

    it "takes wait/reconfigure optargs from the first argument and http's from the second" do
      expect(json(r.table("t").wait(wait_for: "all_replicas_ready")))
        .to eq('[177,[[15,["t"]]],{"wait_for":"all_replicas_ready"}]')
      expect(json(r.table("t").reconfigure(shards: 1, replicas: 1)))
        .to eq('[176,[[15,["t"]]],{"shards":1,"replicas":1}]')
      expect(json(r.http("http://x", method: "GET"))).to eq('[153,["http://x"],{"method":"GET"}]')
    end

    it "treats a Hash as data for methods without optargs" do
      expect(json(r.expr({ a: 1 }).merge({ b: 2 }))).to eq('[35,[{"a":1},{"b":2}]]')
      expect(json(r.expr([1]).contains({ a: 1 }))).to eq('[93,[[2,[1]],{"a":1}]]')
    end

    it "leaves out an empty optargs Hash, and converts optarg values with expr" do
      expect(json(r.table("t", {}))).to eq('[15,["t"]]')
      expect(json(r.table("t").insert([], conflict: ->(_id, old, _new) { old })).then { |s| JSON.parse(s)[2].keys })
        .to eq(["conflict"])
    end
  end

  describe "r.expr" do
    it "passes datums through, strings keys, symbols as strings" do
      expect(r.expr(nil).to_pb).to be_nil
      expect(json(r.expr([true, false, nil, 1.5, "s", :sym]))).to eq('[2,[true,false,null,1.5,"s","sym"]]')
      expect(json(r.expr({ "a" => 1, b: 2 }))).to eq('{"a":1,"b":2}')
    end

    it "returns an RQL unchanged" do
      query = r.table("t")
      expect(r.expr(query)).to equal(query)
      expect(r(query)).to equal(query)
    end

    it "makes a Proc a function" do
      body = r.expr(->(x) { x }).to_pb
      expect(body[0]).to eq(69)
    end

    it "sends a RethinkDB::Binary as BINARY" do
      expect(json(r.expr(RethinkDB::Binary.new("ab")))).to eq('[155,[{"$reql_type$":"BINARY","data":"YWI="}]]')
      expect(json(r.expr("abc").binary)).to eq('[155,["abc"]]')
    end

    it "truncates a Time to milliseconds and writes its offset" do
      expect(r.expr(Time.at(Rational(12_345_678, 10_000)).utc).to_pb)
        .to eq({ "$reql_type$" => "TIME", "epoch_time" => 1234.567, "timezone" => "+00:00" })
      expect(r.expr(Time.at(0).getlocal("+09:45")).to_pb["timezone"]).to eq("+09:45")
    end

    it "rejects keys that are not strings or symbols" do
      expect { r.expr({ 1 => 2 }) }.to raise_error(
        RethinkDB::ReqlDriverCompileError,
        "Object keys must be strings or symbols.  (Got object `1` of class `Integer`.)"
      )
    end

    it "rejects objects it cannot send" do
      expect { r.expr(Object) }.to raise_error(RethinkDB::ReqlDriverCompileError, /\Ar\.expr can't handle Object of class Class\.\z/)
    end

    it "limits the nesting depth, which the second argument changes" do
      deep = [[[1]]]
      expect { r.expr(deep, 3) }.to raise_error(RethinkDB::ReqlDriverCompileError, /Maximum expression depth exceeded/)
      expect(r.expr(deep, 4).to_pb).to eq([2, [[2, [[2, [1]]]]]])
      expect { r.expr(1, "x") }.to raise_error(RethinkDB::ReqlDriverCompileError, "Second argument to `r.expr` must be a number.")
    end

    it "is r(x) through Shortcuts, and r() is the unbound builder" do
      expect(r(5).to_pb).to eq(5)
      expect(r.inspect).to start_with("#<RethinkDB::RQL")
    end
  end

  describe "operators and Ruby integration" do
    it "lets numbers come first (coerce)" do
      expect((5 + r.expr(1)).to_pb).to eq([24, [5, 1]])
      expect((5 * r.expr(2)).to_pb).to eq([26, [5, 2]])
      expect((5 - r.expr(2)).to_pb).to eq([25, [5, 2]])
    end

    it "refuses == (use eq)" do
      expect { r.expr(1) == 1 }.to raise_error(ArgumentError, /use \.eq\(\) instead/)
    end

    it "guards against precedence mistakes with | and &" do
      expect { r.expr(1) < (r.expr(2) | r.expr(3)) }.to raise_error(
        RethinkDB::ReqlDriverCompileError,
        "Calling < on result of infix bitwise operator:\nr(2).or(3).\n" \
        "This is almost always a precedence error.\nNote that `a < b | b < c` <==> `a < (b | b) < c`.\n" \
        "If you really want this behavior, use `.or` or `.and` instead."
      )
      expect { r.expr(1) + (r.expr(true) & false) }.to raise_error(RethinkDB::ReqlDriverCompileError)
      expect(r.expr(1).lt(r.expr(2) | 3).to_pb).to eq([19, [1, [66, [2, 3]]]])
      expect((r.expr(1) < r.expr(2).or(3)).to_pb).to eq([19, [1, [66, [2, 3]]]])
    end

    it "builds [] with a field or an index as BRACKET" do
      expect(r.table("t")["f"].to_pb).to eq([170, [[15, ["t"]], "f"]])
      expect(r.expr([1])[0].to_pb).to eq([170, [[2, [1]], 0]])
    end

    it "builds do with several arguments, or with the function as the last argument" do
      query = r.do(1, 2) { |a, b| a + b }
      a, b = var_ids(query.to_pb)
      expect(query.to_pb).to eq([64, [[69, [[2, [a, b]], [24, [[10, [a]], [10, [b]]]]]], 1, 2]])
      expect(r.expr(1).do(r.js("f")).to_pb).to eq([64, [[11, ["f"]], 1]])
      expect { r.do }.to raise_error(RethinkDB::ReqlDriverCompileError, "Expected 1 or more arguments but found 0.")
    end

    it "has no r.row" do
      expect { r.row }.to raise_error(NoMethodError, "Sorry, r.row is not available in the ruby driver.  Use blocks instead.")
      expect { r.expr(1).row }.to raise_error(NoMethodError, "undefined method `row'")
    end

    it "refuses builder-only methods on a bound query" do
      expect { r.expr(1).expr(2) }.to raise_error(NoMethodError, "undefined method `expr'")
      expect { r.expr(1).connect }.to raise_error(NoMethodError, "undefined method `connect'")
      expect { r.run }.to raise_error(NoMethodError, "undefined method `run'")
    end

    it "inspects as the pretty-printed query and serializes with to_json" do
      expect(r.table("t").get(1).inspect).to eq('r.table("t").get(1)')
      expect(r.table("t").to_json).to eq('[15,["t"]]')
      expect(JSON.generate({ "q" => r.expr([1]) })).to eq('{"q":[2,[1]]}')
    end
  end
end
