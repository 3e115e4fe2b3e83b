# frozen_string_literal: true
module RethinkDB
  class Connection
    # Several hosts and reconnecting (`r.connect(hosts:, reconnect:)`).
    #
    # `connect` tries the hosts in order and keeps the first that answers. When a
    # connection with a Backoff (`@backoff`) is lost, its in-flight queries get
    # the loss as before (on_error + on_close, a raise for `run`): nothing is
    # replayed, except em_run changefeeds run with `resume: true`, which wait.
    # Then:
    # - inside EM.run, reconnecting runs on the reactor's timers: attempt k waits
    #   Backoff#delay(k), then connects to the next host on a short-lived thread
    #   (the connect and handshake release the GVL; the reactor keeps running) and
    #   hands the result back with EM.schedule. Success re-subscribes the waiting
    #   feeds (on_reconnect, then their rows); giving up ends them (on_error +
    #   on_close);
    # - outside it, the next `run` reconnects first, sleeping between attempts.
    # `@generation` changes on every loss and close: a stale attempt is dropped.
    module Failover
      # Why the connection was last lost (nil if it never was).
      def loss_message
        @lock.synchronize { @lost_message }
      end

      # A resumable feed that found the connection lost before it could ask
      # for more: it waits for the reconnect under way. False if none is.
      def resume_after_loss(handle)
        @lock.synchronize do
          return false unless @reconnecting

          @resuming << handle unless @resuming.include?(handle)
          true
        end
      end

      private

      # One pass over the hosts from index `first`: [transport, index], or the
      # failure raised (every host's, when several were tried).
      def open_first(first)
        failures = []
        @hosts.size.times do |i|
          index = (first + i) % @hosts.size
          host, port = @hosts[index]
          begin
            return [open_transport(host, port), index]
          rescue ReqlAuthError
            raise
          rescue ReqlError, SystemCallError, IOError => e
            failures << "#{host}:#{port} (#{e.message})"
            raise if @hosts.size == 1
          end
        end
        raise ReqlDriverError, "Could not connect to any of the #{@hosts.size} hosts: #{failures.join('; ')}"
      end

      def open_transport(host, port)
        return @transport_class.connect(host, port, @user, @password, @timeout) unless @tls
        unless @transport_class.respond_to?(:connect_tls)
          raise ReqlDriverError, "The transport #{@transport_class} does not support TLS (the ssl: option)."
        end

        @transport_class.connect_tls(host, port, @user, @password, @timeout, @tls)
      end

      def reconnecting?
        @lock.synchronize { @reconnecting }
      end

      # After lose_connection: `resuming` are the feeds that wait for the next connection.
      def after_loss(resuming, message)
        gen = @lock.synchronize do
          @resuming.concat(resuming)
          @reconnecting = EM.reactor_running?
          @generation += 1
        end
        if EM.reactor_running?
          EM.schedule { reconnect_step(gen, 0, nil) }
        else
          give_up(gen, nil)
        end
      end

      def current?(gen)
        @lock.synchronize { @generation == gen }
      end

      def reconnect_step(gen, attempt, last_error)
        return unless current?(gen)
        return give_up(gen, last_error) if attempt >= @backoff.attempts

        EM.add_timer(@backoff.delay(attempt)) do
          attempt_in_background(gen, attempt, next_host(attempt)) if current?(gen)
        end
      end

      # The host of attempt `attempt`: the one after the lost one, then round.
      def next_host(attempt)
        (@host_index + 1 + attempt) % @hosts.size
      end

      def attempt_in_background(gen, attempt, index)
        host, port = @hosts[index]
        thread = Thread.new do
          result = begin
            open_transport(host, port)
          rescue ReqlError, SystemCallError, IOError => e
            e
          end
          me = Thread.current
          if EM.reactor_running?
            EM.schedule do
              me.join
              finish_attempt(gen, attempt, index, result)
            end
          elsif !result.is_a?(Exception)
            result.close
          end
        end
        thread.name = "rethinkdb-reconnect"
        thread.report_on_exception = false
      end

      def finish_attempt(gen, attempt, index, result)
        if !current?(gen) || !EM.reactor_running?
          result.close unless result.is_a?(Exception)
          return
        end
        return reconnect_step(gen, attempt + 1, result) if result.is_a?(Exception)

        install(result, index)
        start_pump # so that the next loss is seen even with no query open
        resume_feeds
      end

      # The new transport replaces the lost one.
      def install(transport, index)
        stop_pump
        old = @lock.synchronize do
          taken = @transport
          @transport = transport
          @lost = false
          @reconnecting = false
          @reader = nil
          @host_index = index
          @host, @port = @hosts[index]
          @conn_id += 1
          @generation += 1
          @cond.broadcast
          taken
        end
        old&.close
      end

      def resume_feeds
        handles = @lock.synchronize do
          taken = @resuming
          @resuming = []
          taken
        end
        # A handler raising in on_reconnect strands no other feed: the error goes
        # where a callback's goes once every feed is back.
        first_error = nil
        handles.each do |handle|
          resubscribe(handle)
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
          first_error ||= e
        end
        raise first_error if first_error
      end

      # The feed starts again under a new token; its handler hears on_reconnect
      # before anything of the new subscription arrives.
      def resubscribe(handle)
        return if handle.closed?

        token = new_token
        handle.rebind(token)
        start_pump
        return deliver_later(handle, lost_response("Connection is closed.")) unless register(token, handle.opts, handle)

        auto_continue(token, true)
        begin
          send_awaited(token, start_query(handle.term, handle.opts), handle.opts)
        rescue ReqlDriverError
          nil # the new connection failed at once: its loss reaches the handle
        end
        handle.reconnected
      end

      # No more attempts: the waiting feeds end (on_error + on_close).
      def give_up(gen, error)
        handles = @lock.synchronize do
          return unless @generation == gen

          @reconnecting = false
          @cond.broadcast
          taken = @resuming
          @resuming = []
          taken
        end
        message = @lost_message.to_s
        message += " Could not reconnect after #{@backoff.attempts} attempts: #{error.message}" if error
        handles.each { |handle| deliver_later(handle, lost_response(message)) }
      end

      # Before a synchronous `run` on a lost connection: wait for the reactor's
      # reconnecting (off the reactor thread, or in a scheduled fiber, which
      # suspends), or reconnect here (off the reactor thread).
      def reconnect_for_run
        return unless @backoff && @transport && !open?

        if reconnecting?
          return if EM.reactor_running? && EM.reactor_thread? && !Connection.scheduled_fiber?

          deadline = monotonic + @timeout
          @lock.synchronize { wait_for_delivery(0.1) while @reconnecting && monotonic < deadline }
        elsif !(EM.reactor_running? && EM.reactor_thread?)
          reconnect_blocking
        end
      end

      def reconnect_blocking
        gen = @lock.synchronize { @generation += 1 }
        error = nil
        @backoff.attempts.times do |attempt|
          sleep @backoff.delay(attempt)
          return unless current?(gen)

          index = next_host(attempt)
          begin
            transport = open_transport(*@hosts[index])
          rescue ReqlError, SystemCallError, IOError => e
            error = e
            next
          end
          return install(transport, index) if current?(gen)

          return transport.close
        end
        raise ReqlDriverError, "#{@lost_message} Could not reconnect after #{@backoff.attempts} attempts: " \
                               "#{error&.message}"
      end

      # Close and the reactor's shutdown end the feeds that wait, and any reconnecting.
      def take_resuming
        @lock.synchronize do
          @generation += 1
          @reconnecting = false
          @cond.broadcast
          taken = @resuming
          @resuming = []
          taken
        end
      end
    end
  end
end
