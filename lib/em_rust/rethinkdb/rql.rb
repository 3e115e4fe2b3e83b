# frozen_string_literal: true
require "json"

module RethinkDB
  # A ReQL query under construction. `r` (see Shortcuts) is an unbound RQL: its
  # methods start a query; any other RQL has a body, and its methods chain onto it.
  class RQL
    # The body of an unbound RQL (a body can be nil: r.expr(nil)).
    UNBOUND = Object.new.freeze
    private_constant :UNBOUND

    attr_reader :body, :bitop

    def initialize(body = UNBOUND, bitop = false)
      @body = body
      @bitop = bitop
    end

    # The term as JSON-ready Ruby data: [type, [args], {optargs}], a Hash or a datum.
    def to_pb
      @body
    end

    def to_json(*args)
      @body.to_json(*args)
    end

    def as_json(*)
      @body
    end

    # The query pretty-printed in Ruby syntax (as in error messages).
    def pp
      unbound_if(!bound?, "pp")
      RPP.pp(@body)
    end

    def inspect
      bound? ? RPP.pp(@body) : super
    end

    # `5 + r.expr(1)`
    def coerce(other)
      [RQL.new.expr(other), self]
    end

    def ==(_other)
      raise ArgumentError, <<~MSG.chomp
        Cannot use inline ==/!= with RQL queries, use .eq() instead if
        you want a query that does equality comparison.

        If you need to see whether two queries are the same, compare
        the raw queries like: `query1.to_pb == query2.to_pb`.
      MSG
    end

    def -@
      RQL.new.sub(0, self)
    end

    # `x[field]` is BRACKET; `x[1..2]` / `x[1...2]` is SLICE with a right_bound.
    def [](index)
      if index.is_a?(Range)
        slice(index.begin, index.end, right_bound: index.exclude_end? ? "open" : "closed")
      else
        bracket(index)
      end
    end

    # FUNCALL: `x.do { |v| ... }`, `r.do(a, b) { |x, y| ... }`, or the function as the last argument.
    def do(*args, &block)
      items = bound? ? [self, *args] : args.dup
      raise ReqlDriverCompileError, "Expected 1 or more arguments but found 0." if items.empty? && !block
      function = block ? RQL.new(Expr.func(&block)) : items.pop
      RQL.new.funcall(function, *items)
    end

    def row
      unbound_if(bound?, "row")
      raise NoMethodError, "Sorry, r.row is not available in the ruby driver.  Use blocks instead."
    end

    def expr(value, max_depth = Expr::DEFAULT_DEPTH)
      raise ReqlDriverCompileError, "Second argument to `r.expr` must be a number." unless max_depth.is_a?(Numeric)
      unbound_if(bound?, "expr")
      value.is_a?(RQL) ? value : RQL.new(Expr.body(value, max_depth))
    end

    # r.binary("bytes") sends the bytes; r.binary(term) converts on the server.
    def binary(*args)
      items = bound? ? [self, *args] : args
      RQL.new([Term::TermType::BINARY, items.map { |x| x.is_a?(RQL) ? x.to_pb : Expr.binary_datum(x) }])
    end

    def connect(*args, &block)
      unbound_if(bound?, "connect")
      conn = Connection.new(*args)
      return conn unless block
      begin
        block.call(conn)
      ensure
        conn.close
      end
    end

    private

    def bound?
      !UNBOUND.equal?(@body)
    end

    def unbound_if(condition, name)
      raise NoMethodError, "undefined method `#{name}'" if condition
    end
  end
end
