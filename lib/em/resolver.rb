# frozen_string_literal: true

require "resolv"
require "ipaddr"

module EventMachine
  # An asynchronous DNS resolver over UDP, on the reactor.
  #
  #   EM::DNS::Resolver.resolve("example.com")
  #     .callback { |addresses| p addresses }  # ["93.184.215.14"]
  #     .errback  { |why| p why }              # "rcode=3", "retries exceeded"
  module DNS
    # Where queries go and what /etc/hosts says.
    class Resolver
      HOSTS_FILE = "/etc/hosts"
      RESOLV_CONF = "/etc/resolv.conf"

      @hosts = nil
      @nameservers = nil
      @socket = nil

      class << self
        # Looks +hostname+ up: in the hosts file first (the Deferrable is then
        # already settled), else by an A query to a nameserver.
        # @return [Request] a Deferrable
        def resolve(hostname)
          Request.new(socket, hostname)
        end

        # The UDP socket queries go out on; a new one replaces one that closed
        # (for example when the reactor stopped).
        def socket
          sock = @socket
          sock = nil if sock && (sock.closed? || (sock.respond_to?(:error?) && sock.error?))
          @socket = sock || Socket.open(nameservers.any? { |ns| ipv4?(ns) } || nameservers.empty? ? "0.0.0.0" : "::")
        end

        # Sets the nameservers: addresses, or [address, port] pairs.
        attr_writer :nameservers

        # The nameservers of /etc/resolv.conf unless set; [] if unreadable.
        def nameservers
          @nameservers ||= read_resolv_conf
        end

        # A nameserver to ask: any of the configured ones, IPv4 first (queries
        # leave from an IPv4 socket whenever there is one).
        def nameserver
          v4 = nameservers.select { |ns| ipv4?(ns) }
          (v4.empty? ? nameservers : v4).sample
        end

        # { "name" => ["address", ...] } from /etc/hosts, aliases included.
        def hosts
          @hosts ||= read_hosts
        end

        private

        def ipv4?(ns)
          IPAddr.new(Array(ns).first).ipv4?
        rescue IPAddr::Error
          false
        end

        def read_resolv_conf
          File.readlines(RESOLV_CONF).filter_map { |line| line[/\A\s*nameserver\s+(\S+)/, 1] }
        rescue SystemCallError, IOError
          []
        end

        def read_hosts
          table = {}
          File.foreach(HOSTS_FILE) do |line|
            address, *names = line.sub(/#.*/, "").split
            names.each { |name| (table[name] ||= []) << address unless table[name]&.include?(address) }
          end
          table
        rescue SystemCallError, IOError
          {}
        end
      end
    end

    # Raised (and handled) when a random query id is already in use.
    class RequestIdAlreadyUsed < RuntimeError; end

    # The UDP connection that sends queries and routes answers to their
    # Requests by id. While queries are outstanding, a 0.1 s timer drives
    # their retries.
    class Socket < EventMachine::Connection
      # @return [Socket]
      def self.open(bind = "0.0.0.0")
        EventMachine.open_datagram_socket(bind, 0, self)
      end

      def initialize(*)
        super
        @nameserver = nil
        @requests = {}
        @timer = nil
        @closed = false
      end

      # Sends every query to +ns+ (an address or [address, port]) instead of
      # Resolver.nameserver.
      attr_writer :nameserver

      def nameserver
        @nameserver || Resolver.nameserver
      end

      # True once the socket has been unbound.
      def closed?
        @closed
      end

      def unbind
        @closed = true
        stop_timer
      end

      # @private
      def register_request(id, request)
        raise RequestIdAlreadyUsed if @requests.key?(id)

        @requests[id] = request
        @timer ||= EventMachine.add_periodic_timer(0.1) { tick }
      end

      # @private
      def deregister_request(id, _request = nil)
        @requests.delete(id)
        stop_timer if @requests.empty?
      end

      # @private
      def send_packet(packet)
        host, port = Array(nameserver)
        raise "no nameserver configured" unless host

        send_datagram(packet, host, port || 53)
      end

      def receive_data(data)
        msg = begin
          Resolv::DNS::Message.decode(data)
        rescue StandardError
          return
        end
        request = @requests[msg.id] or return
        deregister_request(msg.id)
        request.receive_answer(msg)
      end

      private

      def tick
        @requests.values.each(&:tick)
      end

      def stop_timer
        @timer&.cancel
        @timer = nil
      end
    end

    # One lookup: a Deferrable that succeeds with the addresses (Strings) or
    # fails with a reason. A query unanswered for retry_interval seconds (3)
    # is sent again, max_tries times (5) in all.
    class Request
      include Deferrable

      attr_accessor :retry_interval, :max_tries

      def initialize(socket, hostname)
        @socket = socket
        @hostname = hostname
        @tries = 0
        @last_send = nil
        @retry_interval = 3
        @max_tries = 5
        @id = nil
        # Resolv's message: a name must be a String (or a Resolv::DNS::Name).
        unless hostname.is_a?(String) || hostname.is_a?(Resolv::DNS::Name)
          raise ArgumentError, "cannot interpret as DNS name: #{hostname.inspect}"
        end
        if (addresses = Resolver.hosts[hostname])
          succeed(addresses)
        elsif ip_literal?(hostname)
          succeed([hostname])
        else
          EventMachine.next_tick { tick }
        end
      end

      # @private Sends the query when one is due; gives up after max_tries.
      def tick
        return if @deferred_status == :succeeded || @deferred_status == :failed
        return if @last_send && now - @last_send < @retry_interval

        if @tries < @max_tries
          send_query
        else
          @socket.deregister_request(@id, self)
          fail "retries exceeded"
        end
      end

      # @private
      def receive_answer(msg)
        addresses = []
        msg.each_answer do |_name, _ttl, data|
          case data
          when Resolv::DNS::Resource::IN::A, Resolv::DNS::Resource::IN::AAAA
            addresses << data.address.to_s
          end
        end
        addresses.empty? ? fail("rcode=#{msg.rcode}") : succeed(addresses)
      end

      private

      def now
        Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end

      def ip_literal?(name)
        Resolv::IPv4::Regex.match?(name.to_s) || Resolv::IPv6::Regex.match?(name.to_s)
      end

      def send_query
        @tries += 1
        @last_send = now
        @socket.send_packet(packet.encode)
      rescue RuntimeError => e
        @socket.deregister_request(@id, self)
        fail e.message
      end

      def packet
        msg = Resolv::DNS::Message.new(query_id)
        msg.rd = 1
        msg.add_question(@hostname, Resolv::DNS::Resource::IN::A)
        msg
      end

      def query_id
        @id ||= begin
          id = Random.rand(0x10000)
          @socket.register_request(id, self)
          id
        rescue RequestIdAlreadyUsed
          retry
        end
      end
    end
  end
end
