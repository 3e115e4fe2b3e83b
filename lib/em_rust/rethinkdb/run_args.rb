# frozen_string_literal: true
module RethinkDB
  # The arguments of `run` and `em_run`, in any order: a Connection, an options
  # Hash, a callback (Proc or Handler; a Handler class is instantiated). The
  # connection defaults to the one `conn.repl` set.
  class RunArgs
    FORMAT_OPTIONS = %i[time_format group_format binary_format].freeze

    attr_reader :conn, :opts, :callback

    def initialize(conn, opts, callback)
      @conn = conn
      @opts = opts
      @callback = callback
    end

    def self.parse(args, block)
      args = args.map { |arg| arg.is_a?(Class) ? arg.new : arg }
      conn = opts = callback = nil
      args.each do |arg|
        case arg
        when Connection
          raise ArgumentError, "Unexpected second Connection #{arg.inspect}." if conn
          conn = arg
        when Hash
          raise ArgumentError, "Unexpected second Hash #{arg.inspect}." if opts
          opts = arg
        when Proc, Handler
          raise ArgumentError, "Unexpected second callback #{arg.inspect}." if callback
          callback = arg
        else
          raise ArgumentError, "Unexpected argument #{arg.inspect} (got #{args.inspect})."
        end
      end
      conn ||= RQL.default_conn
      opts = opts ? opts.dup : {}
      callback ||= block
      FORMAT_OPTIONS.each do |key|
        next unless (format = opts[key])
        opts[key] = format = format.to_s
        next if %w[raw native].include?(format)
        raise ArgumentError, "`#{key}` must be 'raw' or 'native' (got `#{format}`)."
      end
      raise ArgumentError, "No connection specified!\nUse `query.run(conn)` or `conn.repl(); query.run`." unless conn
      new(conn, opts, callback)
    end
  end
end
