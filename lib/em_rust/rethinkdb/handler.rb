# frozen_string_literal: true
module RethinkDB
  # Receives what an em_run query produces. Subclass it and override the
  # callbacks you need (see the table in docs/RETHINKDB.md §2.2): on_open, on_close,
  # on_error, on_val, on_atom, on_array, on_stream_val, on_wait_complete,
  # on_unhandled_change, on_reconnect (em_run's resume: true), and the optional changefeed callbacks on_change,
  # on_initial_val, on_uninitial_val, on_change_error and on_state (the latter
  # also asks the server for feed states).
  #
  # Any callback may take one more parameter than documented: it then also
  # receives the QueryHandle the call is about.
  class Handler
    def initialize
      @stopped = false
    end

    # Calls callback `name` with `args`, plus `query` (the QueryHandle) when its
    # arity asks for one more; with none at all when it takes no arguments.
    # Does nothing once the handler is stopped.
    def handle(name, args, query)
      return if stopped?
      # Looked up once per callback name (method(...) allocates; this runs per row).
      arity = (@callback_arities ||= {})[name] ||= method(name).arity
      if arity == args.size
        __send__(name, *args)
      elsif arity.zero?
        __send__(name)
      else
        __send__(name, *args, query)
      end
    end

    # A callable taking one stream row that does what
    # `handle(:on_stream_val, [row], query)` does (through on_val unless
    # on_stream_val is overridden), with the callback looked up once per query
    # rather than per row. The caller checks stopped? between rows.
    def stream_row_sink(query)
      name = method(:on_stream_val).owner == Handler ? :on_val : :on_stream_val
      arity = method(name).arity
      if arity == 1 then ->(row) { __send__(name, row) }
      elsif arity.zero? then ->(_row) { __send__(name) }
      else ->(row) { __send__(name, row, query) }
      end
    end

    def on_open(_query); end

    def on_close(_query); end

    def on_wait_complete(_query); end

    # A feed run with `resume: true` was re-subscribed on a new connection; its
    # rows (with include_initial/include_states, the initial ones and states
    # again) follow.
    def on_reconnect(_query); end

    # Unhandled errors are raised (out of EM.run).
    def on_error(err, _query)
      raise err
    end

    def on_val(_val, _query); end

    # An atom's value.
    def on_atom(val, query)
      handle(:on_val, [val], query)
    end

    # An array result: to on_atom if a subclass defines it, else element by element.
    def on_array(arr, query)
      if method(:on_atom).owner != Handler
        handle(:on_atom, [arr], query)
      else
        arr.each do |item|
          break if stopped?
          handle(:on_stream_val, [item], query)
        end
      end
    end

    # One row of a stream.
    def on_stream_val(val, query)
      handle(:on_val, [val], query)
    end

    # A changefeed row no optional feed callback took.
    def on_unhandled_change(val, query)
      handle(:on_stream_val, [val], query)
    end

    # After stop, no callback of this handler runs, and each query using it is
    # closed (with a STOP to the server) when its next response arrives.
    def stop
      @stopped = true
    end

    def stopped?
      @stopped
    end
  end

  # The Handler em_run makes of a block. Arity 0 or 1: errors are raised (out
  # of EM.run); any other arity gets (err, nil) or (nil, val).
  class CallbackHandler < Handler
    def initialize(callback)
      arity = callback.arity
      if arity > 2 || arity < -3
        raise ArgumentError, "Wrong number of arguments for callback (callback accepts #{arity} arguments, " \
                             "but it should accept 0, 1 or 2)."
      end
      @callback = callback
    end

    def on_val(val)
      deliver(nil, val)
    end

    # A block's rows go straight to it.
    def stream_row_sink(query)
      return super unless method(:on_val).owner == CallbackHandler && method(:on_stream_val).owner == Handler
      callback = @callback
      case callback.arity
      when 0 then ->(_row) { callback.call }
      when 1 then callback
      else ->(row) { callback.call(nil, row) }
      end
    end

    def on_error(err)
      deliver(err, nil)
    end

    private

    def deliver(err, val)
      case @callback.arity
      when 0
        raise err if err
        @callback.call
      when 1
        raise err if err
        @callback.call(val)
      else
        @callback.call(err, val)
      end
    end
  end
end
