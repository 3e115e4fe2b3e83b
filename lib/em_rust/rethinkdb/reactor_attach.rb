# frozen_string_literal: true
module RethinkDB
  module Native
    # em_run's reactor mode: the connection's socket is watched by the em_rust
    # reactor (EM.watch on its fd), and every response frame — framed and decoded
    # into Ruby objects in Rust — is handed to the connection on the reactor thread.
    # No Ruby thread per connection.
    class Socket
      @busy_poll = 0.0001

      class << self
        # How long (seconds) the reactor keeps polling for the answer to a CONTINUE
        # it has just sent before it goes back to waiting; 0 turns it off. See
        # #poll_response.
        attr_reader :busy_poll

        def busy_poll=(seconds)
          seconds = Float(seconds)
          raise ArgumentError, "busy_poll must be between 0 and 0.01 seconds" unless seconds.between?(0, 0.01)
          @busy_poll = seconds
        end
      end

      def attach_reactor(conn)
        EM.schedule do
          next if @em_watch || closed? || fileno.nil?
          io = IO.for_fd(fileno, autoclose: false)
          @em_watch = EM.watch(io, ReactorWatch, self, conn)
          @em_watch.notify_readable = true
        end
      end

      # Idempotent, from any thread, also after the reactor has gone.
      def detach_reactor
        watch = @em_watch or return
        @em_watch = nil
        EM.schedule { watch.stop } if EM.reactor_running?
      end
    end

    # The watch's handler: drains every frame the socket has (some may already sit
    # decoded in Rust's buffer), polls briefly for the answer to a CONTINUE it
    # has just sent, then waits for the next readiness.
    class ReactorWatch < EM::Connection
      def initialize(socket, conn)
        super()
        @socket = socket
        @conn = conn
      end

      # Frames handled per call, so that a busy stream leaves the reactor time for
      # its timers and other connections.
      FRAMES_PER_TURN = 32

      def notify_readable
        busy_poll = Socket.busy_poll
        FRAMES_PER_TURN.times do
          frame = @socket.read_response(0) || (busy_poll.positive? && @socket.poll_response(busy_poll))
          return unless frame
          @conn.dispatch_response(*frame)
          return if @stopped
        end
        # More may sit decoded in the socket's buffer, where the reactor cannot
        # see them: come back after the reactor's other work.
        EM.next_tick { notify_readable unless @stopped }
      rescue RethinkDB::ReqlDriverError => e
        stop
        @conn.connection_lost(e)
      end

      def stop
        return if @stopped
        @stopped = true
        detach
      rescue StandardError
        nil
      end
    end
  end
end
