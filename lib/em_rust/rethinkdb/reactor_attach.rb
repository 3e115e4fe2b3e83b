# frozen_string_literal: true
module RethinkDB
  module Native
    # em_run's reactor mode: the connection's socket is watched by the em_rust
    # reactor (EM.watch on its fd), and every response frame — framed and decoded
    # into Ruby objects in Rust — is handed to the connection on the reactor thread.
    # No Ruby thread per connection.
    class Socket
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
    # decoded in Rust's buffer), then waits for the next readiness.
    class ReactorWatch < EM::Connection
      def initialize(socket, conn)
        super()
        @socket = socket
        @conn = conn
      end

      def notify_readable
        while (frame = @socket.read_response(0))
          @conn.dispatch_response(*frame)
        end
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
