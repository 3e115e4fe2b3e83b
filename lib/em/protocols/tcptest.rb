# frozen_string_literal: true

module EventMachine
  module Protocols
    # Checks that a TCP port accepts connections.
    #
    #   EM::P::TcpConnectTester.test("127.0.0.1", 22)
    #     .callback { |secs| puts "open, connected in #{secs}s" }
    #     .errback  { |secs| puts "closed (gave up after #{secs}s)" }
    #
    # The connection is closed as soon as it is established.
    class TcpConnectTester < Connection
      include EventMachine::Deferrable

      # @return [TcpConnectTester] a Deferrable
      def self.test(host, port)
        EventMachine.connect(host, port, self)
      end

      def post_init
        @start_time = Time.now
        @completed = false
      end

      def connection_completed
        @completed = true
        succeed(Time.now - @start_time)
        close_connection
      end

      def unbind
        fail(Time.now - @start_time) unless @completed
      end
    end
  end
end
