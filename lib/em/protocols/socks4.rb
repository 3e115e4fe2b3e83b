# frozen_string_literal: true

require "socket"

module EventMachine
  module Protocols
    # A connection made through a SOCKS4 proxy. Subclass it like a normal
    # Connection and connect to the proxy, naming the real destination:
    #
    #   class Fetch < EM::P::Socks4
    #     def post_init = send_data("GET / HTTP/1.0\r\n\r\n")
    #     def receive_data(data) = p(data)
    #   end
    #   EM.connect(proxy_host, 1080, Fetch, "example.com", 80)
    #
    # Your post_init runs, and your receive_data starts getting data, only
    # once the proxy has granted the connection; if it refuses, the
    # connection is closed (unbind runs) and @socks_error_code holds the
    # proxy's reply code.
    class Socks4 < Connection
      # Holds the handshake in front of the subclass's post_init and
      # receive_data until the proxy has answered.
      module Handshake
        def post_init
          send_data([4, 1, @port].pack("CCn") << @host << "\0")
        end

        def receive_data(data)
          return super if @socks_done

          @buffer << data
          return if @buffer.bytesize < 8

          code = @buffer.getbyte(1)
          unless code == 90
            @socks_error_code = code
            return close_connection
          end

          @socks_done = true
          rest = @buffer.byteslice(8, @buffer.bytesize - 8)
          @buffer = String.new(encoding: Encoding::BINARY)
          method(:post_init).super_method.call
          super(rest) unless rest.empty?
        end
      end

      # @param host [String] destination (an IPv4 address, or a name
      #   resolved here)
      # @param port [Integer] destination port
      def initialize(host, port)
        super()
        @host = Socks4.ipv4_bytes(host)
        @port = port
        @socks_error_code = nil
        @socks_done = false
        @buffer = String.new(encoding: Encoding::BINARY)
        extend(Handshake)
      end

      # @private The 4 address bytes of +host+.
      def self.ipv4_bytes(host)
        ip = Addrinfo.getaddrinfo(host, nil, Socket::AF_INET, Socket::SOCK_STREAM).first.ip_address
        ip.split(".").map(&:to_i).pack("C4")
      end
    end
  end
end
