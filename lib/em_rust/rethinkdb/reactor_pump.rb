# frozen_string_literal: true
module RethinkDB
  # Delivers a connection's responses from the em_rust reactor itself: the
  # transport (RethinkDB::Native::Socket) watches its socket on the reactor and
  # calls, on the reactor thread,
  #   conn.dispatch_response(token, response)  for each response frame, and
  #   conn.connection_lost(error)              once, on EOF or a bad frame.
  # No Ruby thread is involved. The reactor thread may still read the transport
  # synchronously (a `run` inside an em_run callback): `read_response` then
  # returns frames the reactor has not delivered, and never delivers them twice.
  # A `run` in a fiber of Fiber.schedule / EM.fiber is delivered to instead.
  class ReactorPump
    def initialize(conn, transport)
      @conn = conn
      @transport = transport
    end

    def start
      @transport.attach_reactor(@conn)
    end

    def stop
      @transport.detach_reactor
    end

    # Threads other than the reactor, and fibers of the reactor's scheduler
    # (suspended while the loop goes on), wait to be handed their responses;
    # the reactor thread otherwise (blocked in a callback, so not polling)
    # reads them itself.
    def delivers_for?(thread)
      EM.reactor_running? && (!thread.equal?(EM.reactor_thread) || Connection.scheduled_fiber?)
    end
  end
end
