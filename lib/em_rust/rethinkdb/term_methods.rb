# frozen_string_literal: true
module RethinkDB
  # One method per ql2.proto term type (downcased: `order_by`, `get_all`, ...),
  # plus the official driver's aliases. `recv.m(*args, &block)` builds
  # `[TYPE, [recv?, *args, func(block)?], {optargs}?]`.
  class RQL
    # Where a Hash argument is taken as optargs (any other Hash is data). -1 is
    # "the last argument, if it is a Hash"; a Hash entry depends on a block.
    OPTARG_OFFSETS = {
      insert: 1, between: 2, http: 1, reconfigure: 0, wait: 0,
      update: { with_block: 0, without: 1 },
      replace: { with_block: 0, without: 1 },
      filter: { with_block: 0, without: 1 },
      delete: -1, reduce: -1, fold: -1, table: -1, table_create: -1, get_all: -1,
      eq_join: -1, javascript: -1, slice: -1, during: -1, order_by: -1, union: -1,
      group: -1, iso8601: -1, index_create: -1, index_rename: -1, random: -1,
      distinct: -1, distance: -1, circle: -1, get_intersecting: -1, get_nearest: -1,
      min: -1, max: -1, changes: -1
    }.freeze

    METHOD_ALIASES = {
      lt: [:<], le: [:<=], gt: [:>], ge: [:>=],
      add: [:+], sub: [:-], mul: [:*], div: [:/], mod: [:%],
      or: [:|], and: [:&],
      bit_and: [:bitand], bit_or: [:bitor], bit_xor: [:bitxor], bit_not: [:bitnot],
      bit_sal: [:bitsal], bit_sar: [:bitsar],
      order_by: [:orderby], concat_map: [:concatmap], for_each: [:foreach],
      javascript: [:js], type_of: [:typeof]
    }.freeze

    # Results of these (infix) operators are marked; passing one to an
    # arithmetic/comparison operator is almost always a precedence mistake.
    BITOPS = %i[| &].freeze
    PRECEDENCE_GUARDED = %i[< <= > >= + - * / %].freeze

    # Term types with a method of their own (r.binary converts client-side strings).
    SPECIAL_TERMS = %i[BINARY].freeze

    class << self
      private

      def define_term_method(constant)
        number = Term::TermType.const_get(constant)
        name = constant.to_s.downcase.to_sym
        offset = OPTARG_OFFSETS[name]
        [name, *METHOD_ALIASES[name]].each do |method_name|
          bitop = BITOPS.include?(method_name)
          guarded = PRECEDENCE_GUARDED.include?(method_name)
          define_method(method_name) do |*args, &block|
            precedence_guard!(method_name, args) if guarded
            build_term(number, args, offset, block, bitop)
          end
        end
      end
    end

    (Term::TermType.constants - SPECIAL_TERMS).each { |constant| define_term_method(constant) }

    private

    def build_term(number, args, offset, block, bitop)
      optargs = nil
      if offset
        offset = offset[block ? :with_block : :without] if offset.is_a?(Hash)
        if args[offset].instance_of?(Hash)
          args = args.dup
          optargs = args.delete_at(offset)
        end
      end
      items = bound? ? [self, *args] : args.dup
      items << RQL.new(Expr.func(&block)) if block
      body = [number, items.map { |item| Expr.body(item) }]
      body << optargs.each_with_object({}) { |(k, v), h| h[k.to_s] = Expr.body(v) } if optargs && !optargs.empty?
      RQL.new(body, bitop)
    end

    def precedence_guard!(operator, args)
      culprit = args.find { |arg| arg.is_a?(RQL) && arg.bitop }
      return unless culprit
      raise ReqlDriverCompileError,
            "Calling #{operator} on result of infix bitwise operator:\n#{culprit.inspect}.\n" \
            "This is almost always a precedence error.\n" \
            "Note that `a < b | b < c` <==> `a < (b | b) < c`.\n" \
            "If you really want this behavior, use `.or` or `.and` instead."
    end
  end
end
