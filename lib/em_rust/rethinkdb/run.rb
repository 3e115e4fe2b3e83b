# frozen_string_literal: true
module RethinkDB
  # Running a query: synchronously (`run`) or on the EventMachine reactor (`em_run`).
  class RQL
    @default_conn = nil

    class << self
      attr_reader :default_conn

      def set_default_conn(conn) # rubocop:disable Naming/AccessorMethodName -- the official name
        @default_conn = conn
      end
    end

    # Runs the query and returns its value: an Array/Hash/scalar for an atom, a
    # Cursor for a stream, nil with `noreply: true`. With a block, calls the
    # block with the value (and closes a cursor after it).
    def run(*args, &block)
      unbound_if(!bound?, "run")
      parsed = RunArgs.parse(args, block)
      if parsed.callback.is_a?(Handler)
        raise RuntimeError, "Cannot call `run` with a handler, did you mean `em_run`?"
      end
      parsed.conn.run(@body, parsed.opts, parsed.callback)
    end

    # Runs the query inside EM.run; what it produces goes to the handler (a
    # Handler instance or class, or a block) on the reactor thread. Returns the
    # QueryHandle. See docs/RETHINKDB.md §2 for every rule.
    def em_run(*args, &block)
      raise RuntimeError, "RethinkDB::RQL::em_run can only be called inside `EM.run`" unless EM.reactor_running?
      unbound_if(!bound?, "em_run")
      parsed = RunArgs.parse(args, block)
      handler = parsed.callback
      handler = CallbackHandler.new(handler) if handler.is_a?(Proc)
      raise ArgumentError, "No handler specified." unless handler.is_a?(Handler)

      opts = parsed.opts
      resume = resume_option(opts.delete(:resume), parsed.conn)
      # A handler that wants feed states gets them (a global optarg).
      opts = opts.merge(include_states: true) if handler.respond_to?(:on_state)
      conn = parsed.conn
      EM_Guard.register(conn)
      conn.run(@body, opts, handler, resume: resume)
    end

    private

    # `resume: true` (em_run only): a changefeed re-subscribed after a reconnect.
    def resume_option(resume, conn)
      return false if resume.nil? || resume == false
      raise ArgumentError, "resume: must be true or false (got #{resume.inspect})." unless resume == true
      unless RQL.changefeed?(@body)
        raise ArgumentError, "resume: true is for changefeeds (a query with .changes); any other query " \
                             "would run again after a reconnect."
      end
      unless conn.reconnect_options
        raise ArgumentError, "resume: true needs a connection that reconnects: r.connect(hosts: [...]) " \
                             "or r.connect(reconnect: {...})."
      end
      true
    end

    CHANGES = Term::TermType::CHANGES

    # Whether the term body holds a `changes` term.
    def self.changefeed?(body)
      case body
      when Array then (body[0] == CHANGES && body[1].is_a?(Array)) || body.any? { |item| changefeed?(item) }
      when Hash then body.each_value.any? { |item| changefeed?(item) }
      else false
      end
    end
  end
end
