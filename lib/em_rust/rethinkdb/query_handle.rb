# frozen_string_literal: true
module RethinkDB
  # What em_run returns: one query's link to its handler. `close` ends it (the
  # server gets STOP); `closed?` tells whether it has ended. Handles are Hash
  # keys by identity.
  #
  # The connection gives it each response with #callback, on the reactor
  # thread, one call per response.
  class QueryHandle
    RT = Response::ResponseType

    def initialize(handler, term, opts, token, conn, resume: false)
      @resume = resume
      @handler = handler
      @term = term
      @opts = opts
      @token = token
      @conn = conn
      @opened = false
      @closed = false
    end

    attr_reader :token, :term, :opts

    # A changefeed run with `resume: true`: re-subscribed after a reconnect.
    def resume?
      @resume && !@closed && !@handler.stopped?
    end

    # Re-subscribed under a new token (Connection::Failover).
    def rebind(token)
      @token = token
    end

    def reconnected
      handle(:on_reconnect)
    end

    def closed?
      @closed
    end

    # Ends the query: on_close now (before any on_open if nothing arrived yet),
    # then STOP to the server. True if the query was still waiting for a response.
    def close
      return false if @closed
      handle_close
      @conn.stop(@token)
    end

    def inspect
      "#<#{self.class.name} token=#{@token}#{' closed' if @closed} #{RPP.pp(@term)}>"
    end

    # One response for this query (docs/RETHINKDB.md §2.3). `continued`: the
    # transport has already asked for the next batch.
    def callback(response, continued = false)
      if @handler.stopped? || !EM.reactor_running?
        @closed = true
        @conn.stop(@token)
        return
      end
      return if @closed

      begin
        type = response["t"]
        feed = feed?(response)
        case type
        when RT::SUCCESS_PARTIAL, RT::SUCCESS_SEQUENCE
          rows = response["r"]
        when RT::SUCCESS_ATOM
          value = response["r"][0]
        when RT::WAIT_COMPLETE
          nil
        else
          error = Responses.error(response, @term)
        end
      rescue Exception => e # rubocop:disable Lint/RescueException -- the handler decides
        return deliver_error(e)
      end

      case type
      when RT::SUCCESS_PARTIAL, RT::SUCCESS_SEQUENCE then deliver_rows(type, rows, feed, continued)
      when RT::SUCCESS_ATOM then deliver_atom(value)
      when RT::WAIT_COMPLETE
        handle_open
        handle(:on_wait_complete)
        handle_close
      else deliver_error(error)
      end
    end

    # The connection went away under an open query (shutdown or close).
    def handle_force_close
      handle(:on_error, ReqlRuntimeError.new("Connection is closed.")) unless @closed
      handle_close
    end

    def handle_open
      return if @opened
      @opened = true
      handle(:on_open)
    end

    def handle_close
      return if @closed
      @closed = true
      handle(:on_close)
    end

    private

    # A handler exception stops the handler and propagates (out of EM.run).
    def handle(name, *args)
      @handler.handle(name, args, self)
    rescue Exception # rubocop:disable Lint/RescueException -- re-raised
      @handler.stop
      raise
    end

    # As the official driver: a response without notes counts as a feed.
    def feed?(response)
      notes = response["n"]
      return true unless notes.is_a?(Array)
      notes.any? { |note| Protocol::FEED_NOTES.include?(note) }
    end

    def deliver_rows(type, rows, feed, continued)
      handle_open
      awaiting = type == RT::SUCCESS_PARTIAL && !@conn.closed? &&
                 @conn.continue_query(@token, @opts, self, sent: continued)
      feed ? rows.each { |row| deliver_change(row) } : deliver_stream(rows)
      return handle_close if type == RT::SUCCESS_SEQUENCE
      # A connection that closes while the next batch is awaited tells this
      # handle itself (on_error + on_close, in a later tick); one lost before
      # it could be asked for is told here (or the feed waits to resume).
      return if awaiting || @closed || !@conn.closed?
      return if resume? && @conn.resume_after_loss(self)

      lost = { "t" => RT::CLIENT_ERROR, "r" => [@conn.loss_message || "Connection is closed."], "b" => [] }
      deliver_error(Responses.error(lost, @term))
    end

    def deliver_stream(rows)
      sink = (@stream_row_sink ||= @handler.stream_row_sink(self))
      rows.each do |row|
        break if @handler.stopped?
        sink.call(row)
      end
    rescue Exception # rubocop:disable Lint/RescueException -- re-raised
      @handler.stop
      raise
    end

    def deliver_atom(value)
      handle_open
      value.is_a?(Array) ? handle(:on_array, value) : handle(:on_atom, value)
      handle_close
    end

    def deliver_error(error)
      handle_open
      handle(:on_error, error)
      handle_close
    end

    # First match wins; a row that is not a Hash (e.g. `changes['new_val']`) is unhandled.
    def deliver_change(row)
      return handle(:on_unhandled_change, row) unless row.is_a?(Hash)
      has_new = row.key?("new_val")
      has_old = row.key?("old_val")
      if has_new && has_old && @handler.respond_to?(:on_change)
        handle(:on_change, row["old_val"], row["new_val"])
      elsif has_new && !has_old && @handler.respond_to?(:on_initial_val)
        handle(:on_initial_val, row["new_val"])
      elsif has_old && !has_new && @handler.respond_to?(:on_uninitial_val)
        handle(:on_uninitial_val, row["old_val"])
      elsif row.key?("error") && @handler.respond_to?(:on_change_error)
        handle(:on_change_error, row["error"])
      elsif row.key?("state") && @handler.respond_to?(:on_state)
        handle(:on_state, row["state"])
      else
        handle(:on_unhandled_change, row)
      end
    end
  end
end
