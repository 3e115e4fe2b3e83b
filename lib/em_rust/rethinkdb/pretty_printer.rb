# frozen_string_literal: true
require "prettyprint"

module RethinkDB
  # Prints a query in Ruby syntax for error messages, underlining with ^ the
  # subterm a server backtrace points at (RPP.pp(term, backtrace)). The layout
  # is Ruby's PrettyPrint at 79 columns, as the official driver prints it, so
  # messages match it character for character.
  module RPP
    # Zero-width marks around the subterm the backtrace points at.
    MARK = "\x7"
    WIDTH = 79

    # Terms printed as `r.name(...)` rather than as a method of their first argument.
    TOP_LEVEL = %w[
      db db_create db_drop json funcall args branch http binary javascript random time
      iso8601 epoch_time now geojson point circle line polygon asc desc literal range error
    ].freeze
    # Printed as `r.name(...)` unless their first argument is a db.
    DB_SCOPED = %w[table table_drop table_create].freeze

    T = Term::TermType

    class << self
      def pp(term, backtrace = nil)
        q = PrettyPrint.new(+"", WIDTH)
        print_term(q, term, backtrace, true)
        q.flush
        underline(q.output)
      rescue StandardError => e
        "AN ERROR OCCURED DURING PRETTY-PRINTING:\n#{e.inspect}\nFALLING BACK TO GENERIC PRINTER.\n#{term.inspect}"
      end

      private

      # Turns the marks into a line of carets under each marked line; a marked
      # span that crosses lines keeps underlining from each line's indentation.
      def underline(text)
        spanning = false
        text.split("\n").flat_map do |line|
          line = line.sub(/\A */) { |indent| indent + MARK } if spanning
          parts = line.split(MARK)
          if parts[1]
            spanning = !(parts[2] || line.end_with?(MARK))
            [parts.join, (" " * parts[0].size) + ("^" * parts[1].size)]
          else
            [line]
          end
        end.join("\n")
      end

      # The backtrace below `frame` if the backtrace goes through it, else nil.
      def descend(backtrace, frame)
        backtrace && backtrace[0] == frame ? backtrace[1..] : nil
      end

      def mark(q, backtrace)
        q.text(MARK, 0) if backtrace == []
      end

      def print_term(q, term, bt, pre_dot = false)
        mark(q, bt)
        term = term.to_pb if term.is_a?(RQL)
        unless term.is_a?(Array)
          if term.is_a?(Hash)
            print_object(q, term, bt, pre_dot) unless print_pseudo_type(q, term)
          else
            print_datum(q, term, pre_dot)
          end
          return mark(q, bt)
        end

        type = term[0]
        args = (term[1] || []).dup
        optargs = (term[2] || {}).dup
        case type
        when T::VAR
          q.text("var_")
          print_datum(q, args[0], false)
          return mark(q, bt)
        when T::FUNC
          q.text("r(") if pre_dot
          q.text("lambda")
          print_func(q, term, bt)
          q.text(")") if pre_dot
          return mark(q, bt)
        when T::MAKE_ARRAY
          print_array(q, args, bt, pre_dot)
          return mark(q, bt)
        when T::FUNCALL
          # Like the official printer, no closing mark here: an error on a whole
          # `do` underlines to the end of the query.
          return print_funcall(q, args, bt, pre_dot)
        end

        name = Protocol::TERM_NAMES.fetch(type)
        # `args.shift` even when it then turns out falsy (r(false).not prints as r.not):
        # the official printer's quirk, kept so that messages match.
        if prefixable?(name, args) && (first = args.shift)
          print_term(q, first, descend(bt, 0), true)
          arg_offset = 1
        else
          q.text("r")
          arg_offset = 0
        end
        if name == "bracket"
          open, close = "[", "]"
        else
          q.text(".")
          q.text(name)
          open, close = "(", ")"
        end

        if args[-1].is_a?(Array) && args[-1][0] == T::FUNC
          func_bt = descend(bt, args.size - 1 + arg_offset)
          func = args.pop
        end

        unless args.empty? && optargs.empty?
          q.group(0, open, close) do
            q.nest(2) do
              args.each_with_index do |arg, index|
                separate(q, index.zero?)
                print_term(q, arg, descend(bt, index + arg_offset))
              end
              unless optargs.empty?
                separate(q, false) unless args.empty?
                print_object(q, optargs, bt)
              end
            end
            q.breakable("")
          end
        end

        print_func(q, func, func_bt) if func
        mark(q, bt)
      end

      def separate(q, first)
        if first
          q.breakable("")
        else
          q.text(",")
          q.breakable
        end
      end

      def prefixable?(name, args)
        if DB_SCOPED.include?(name)
          args[0].is_a?(Array) && args[0][0] == T::DB
        else
          !TOP_LEVEL.include?(name)
        end
      end

      def print_pseudo_type(q, object)
        case object["$reql_type$"]
        when "TIME"
          return false unless object.key?("epoch_time") && object.key?("timezone")
          time = Time.at(object["epoch_time"])
          zone = object["timezone"]
          time = zone.nil? || zone == "" || zone == "Z" ? time.utc : time.getlocal(zone)
          q.text("r.expr(#{time.inspect})")
        when "BINARY"
          return false unless object.key?("data")
          q.text("<data>")
        else
          return false
        end
        true
      end

      # A Hash as `{"key" => value, ...}`; also a term's optargs.
      def print_object(q, object, bt, pre_dot = false)
        q.text("r(") if pre_dot
        q.group(1, "{", "}") do
          object.each_with_index do |(key, value), index|
            unless index.zero?
              q.text(",")
              q.breakable
            end
            q.text("#{key.inspect} =>")
            q.nest(2) do
              q.breakable
              print_term(q, value, descend(bt, key))
            end
          end
        end
        q.text(")") if pre_dot
      end

      def print_array(q, items, bt, pre_dot)
        q.text("r(") if pre_dot
        q.group(1, "[", "]") do
          items.each_with_index do |item, index|
            unless index.zero?
              q.text(",")
              q.breakable
            end
            print_term(q, item, descend(bt, index))
          end
        end
        q.text(")") if pre_dot
      end

      def print_datum(q, datum, pre_dot)
        q.text("r(") if pre_dot
        q.text(datum.inspect)
        q.text(")") if pre_dot
      end

      # ` {|var_1, var_2| body}`
      def print_func(q, func, bt)
        params = func[1][0][1]
        body = func[1][1]
        q.text(" ")
        q.group(0, "{", "}") do
          q.text("|#{params.map { |id| "var_#{id}" }.join(', ')}|") unless params.empty?
          q.nest(2) do
            q.breakable
            print_term(q, body, descend(bt, 1))
          end
          q.breakable("")
        end
      rescue StandardError
        q.text(" {#<unprintable function:`#{func}`>}")
      end

      # FUNCALL [func, *args]: `arg.do {|x| ...}` or `r.do(a, b) {|x, y| ...}`.
      def print_funcall(q, args, bt, pre_dot)
        func = args[0].is_a?(Array) && args[0][0] == T::FUNC ? args[0] : nil
        if args.size == 2
          print_term(q, args[1], descend(bt, 1), pre_dot)
          q.text(".do")
          unless func
            q.text("(")
            print_term(q, args[0], descend(bt, 0))
            q.text(")")
          end
        else
          q.text("r.do(")
          (1...args.size).each do |i|
            q.text(", ") unless i == 1
            print_term(q, args[i], descend(bt, i))
          end
          unless func
            q.text(", ")
            print_term(q, args[0], descend(bt, 0))
          end
          q.text(")")
        end
        print_func(q, func, descend(bt, 0)) if func
      end
    end
  end
end
