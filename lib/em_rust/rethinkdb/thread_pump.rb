# frozen_string_literal: true
module RethinkDB
  # Delivers a connection's responses to the reactor from a Ruby thread that
  # reads the transport (one per connection, as the official driver's listener).
  # Used only with transports that cannot attach to the reactor (the pure-Ruby
  # test and benchmark transport); RethinkDB::Native::Socket uses ReactorPump.
  class ThreadPump
    # How often the thread looks up from the socket to see whether it should stop.
    POLL_SECONDS = 0.02

    def initialize(conn, transport)
      @conn = conn
      @transport = transport
      @running = false
      @thread = nil
    end

    def start
      @running = true
      @thread = Thread.new { run }
      @thread.name = "rethinkdb-pump"
      @thread.report_on_exception = false
    end

    def stop
      @running = false
      @thread.join unless @thread.nil? || Thread.current.equal?(@thread)
      @thread = nil
    end

    # Synchronous waiters never read while this thread does.
    def delivers_for?(_thread)
      true
    end

    private

    def run
      @conn.acquire_reader
      begin
        while @running
          pair = @transport.read_response(POLL_SECONDS)
          @conn.receive_later(pair[0], pair[1]) if pair
        end
      rescue ReqlError, IOError, SystemCallError => e
        @running = false
        @conn.connection_lost(e, @transport)
      ensure
        @conn.release_reader
      end
    end
  end
end
