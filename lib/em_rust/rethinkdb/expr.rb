# frozen_string_literal: true
require "base64"

module RethinkDB
  # Ruby values to the JSON-ready term bodies of ReQL (what `r.expr` does), and
  # blocks to FUNC terms. Term bodies are plain Arrays/Hashes/scalars:
  # `[type, [args...], {optargs}]` for terms, Hashes for objects.
  module Expr
    DEFAULT_DEPTH = 20

    @gensym_lock = Mutex.new
    @gensym = 0

    class << self
      # The body of `r.expr(value)`; `depth` bounds the nesting.
      def body(value, depth = DEFAULT_DEPTH)
        if depth.zero?
          raise ReqlDriverCompileError,
                "Maximum expression depth exceeded (you can override this with `r.expr(X, MAX_DEPTH)`)."
        end
        case value
        when RQL then value.to_pb
        when Array then [Term::TermType::MAKE_ARRAY, value.map { |item| body(item, depth - 1) }]
        when Hash then value.each_with_object({}) { |(k, v), obj| obj[key(k)] = body(v, depth - 1) }
        when Proc then func(&value)
        when Binary then binary(value)
        when String, Symbol, Numeric, true, false, nil then value
        when Time then time(value)
        else raise ReqlDriverCompileError, "r.expr can't handle #{value.inspect} of class #{value.class}."
        end
      end

      # A block as a FUNC term: one VAR per parameter (by arity), with ids from a
      # process-wide counter, the body being what the block returns for them.
      def func(&block)
        count = [block.arity, 0].max
        ids = @gensym_lock.synchronize { Array.new(count) { @gensym += 1 } }
        result = block.call(*ids.map { |id| RQL.new([Term::TermType::VAR, [id]]) })
        [Term::TermType::FUNC, [[Term::TermType::MAKE_ARRAY, ids], body(result)]]
      end

      # BINARY wrapping a client-side string.
      def binary(string)
        [Term::TermType::BINARY, [binary_datum(string)]]
      end

      def binary_datum(string)
        { "$reql_type$" => "BINARY", "data" => Base64.strict_encode64(string) }
      end

      # A TIME pseudo-type: milliseconds precision, the Time's own UTC offset.
      def time(value)
        offset = value.utc_offset
        hours, minutes = (offset.abs / 60).divmod(60)
        {
          "$reql_type$" => "TIME",
          "epoch_time" => (value.to_r * 1000).to_i / 1000.0,
          "timezone" => format("%s%02d:%02d", offset.negative? ? "-" : "+", hours, minutes)
        }
      end

      private

      def key(name)
        case name
        when String then name
        when Symbol then name.to_s
        else
          raise ReqlDriverCompileError,
                "Object keys must be strings or symbols.  (Got object `#{name.inspect}` of class `#{name.class}`.)"
        end
      end
    end
  end
end
