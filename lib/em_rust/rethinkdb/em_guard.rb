# frozen_string_literal: true
require "set"

module RethinkDB
  # Ends em_run queries when the reactor stops: the first em_run of an EM.run
  # adds a shutdown hook; the hook force-closes every open QueryHandle on every
  # connection em_run used (on_error "Connection is closed.", then on_close;
  # the server gets STOP) and hands the connections back to synchronous use.
  module EM_Guard # rubocop:disable Naming/ClassAndModuleCamelCase -- the official driver's name
    @lock = Mutex.new
    @registered = false
    @conns = Set.new

    class << self
      def register(conn)
        @lock.synchronize do
          unless @registered
            @registered = true
            EM.add_shutdown_hook { EM_Guard.remove_em_waiters }
          end
          @conns << conn
        end
      end

      def unregister(conn)
        @lock.synchronize { @conns.delete(conn) }
      end

      # The shutdown hook. Every connection is cleaned up even if a handler
      # raises; the first exception then propagates (out of EM.run).
      def remove_em_waiters
        conns = @lock.synchronize do
          @registered = false
          taken = @conns
          @conns = Set.new
          taken
        end
        failure = nil
        conns.each do |conn|
          conn.remove_em_waiters
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
          failure ||= e
        end
        raise failure if failure
      end
    end
  end
end
