# frozen_string_literal: true

require_relative "linetext2"

module EventMachine
  module Protocols
    # A persistent HTTP/1.1 client connection with pipelined requests
    # (deprecated in EventMachine in favour of em-http-request).
    #
    #   conn = EM::P::HttpClient2.connect("127.0.0.1", 8080)
    #   req = conn.get("/index.html")
    #   req.callback { |r| p r.status, r.headers["content-type"], r.content }
    #   req.errback  { |r| p r.internal_error }
    #
    # connect takes (host, port) or a Hash with :host, :port and :tls (or
    # :ssl). get and post take a URI String or a Hash with :uri and optionally
    # :host_header, :authorization, :version, and for post :content and
    # :contenttype. Replies are read in request order; every request still
    # waiting when the connection closes fails.
    class HttpClient2 < Connection
      include LineText2

      # One request and, once it has arrived, its reply.
      class Request
        include Deferrable

        # "1.1" or "1.0", from the status line.
        attr_reader :version
        # The status code, an Integer.
        attr_reader :status
        # The header lines as received, status line first.
        attr_reader :header_lines
        # { "lower-case name" => [value, ...] }
        attr_reader :headers
        # The body.
        attr_reader :content
        # nil, or why the reply could not be read: :bad_header, :bad_request
        # or :unsupported_clen.
        attr_reader :internal_error

        STATUS_LINE = %r{\AHTTP/(1\.[01]) (\d{3})}i
        private_constant :STATUS_LINE

        def initialize(conn, args)
          @conn = conn
          @args = args
          @header_lines = []
          @headers = {}
          @blank_lines = 0
          @state = :headers
        end

        # Writes the request.
        def send_request
          body = @args[:content]&.to_s
          head = +"#{@args[:verb]} #{@args[:uri]} HTTP/#{@args[:version] || '1.1'}\r\n"
          head << "Host: #{@args[:host_header] || '_'}\r\n"
          head << "Authorization: #{@args[:authorization]}\r\n" if @args[:authorization]
          if body
            head << "Content-type: #{@args[:contenttype] || 'application/octet-stream'}\r\n"
            head << "Content-length: #{body.bytesize}\r\n"
          end
          @conn.send_data(head << "\r\n")
          @conn.send_data(body) if body && !body.empty?
        end

        # @private A line of the reply.
        def receive_line(line)
          case @state
          when :headers then header_line(line)
          when :chunk_size then chunk_size_line(line)
          when :trailer then done if line.empty?
          end
        end

        # @private A sized block: the body, or one chunk of it.
        def receive_text(text)
          if @state == :chunk_size
            @chunks << text
          else
            @content = text
            done
          end
        end

        private

        def header_line(line)
          if line.empty?
            return headers_done unless @header_lines.empty?

            @blank_lines += 1
            @conn.close_connection if @blank_lines > 10
          else
            @header_lines << line
            return if @header_lines.size <= 100

            @internal_error = :bad_header
            @conn.close_connection
          end
        end

        def headers_done
          m = STATUS_LINE.match(@header_lines.first)
          unless m
            @internal_error = :bad_request
            return @conn.close_connection
          end

          @version = m[1]
          @status = m[2].to_i
          length = nil
          chunked = false
          @header_lines.drop(1).each do |line|
            name, value = line.split(/:\s*/, 2)
            (@headers[name.downcase] ||= []) << value
            length ||= $1.to_i if line =~ /\AContent-length:\s*(\d+)/i
            chunked = true if /\ATransfer-encoding:\s*chunked/i.match?(line)
          end

          if length&.zero?
            @content = +""
            done
          elsif length
            @conn.set_text_mode(length)
          elsif chunked
            @state = :chunk_size
            @chunks = []
          else
            @internal_error = :unsupported_clen
            @conn.close_connection
          end
        end

        def chunk_size_line(line)
          return if line.empty? # the CRLF that ends a chunk

          size = line.to_i(16)
          if size.positive?
            @conn.set_text_mode(size)
          else
            @content = @chunks.join
            @state = :trailer
          end
        end

        def done
          @state = :done
          @conn.pop_request
          succeed(self)
        end
      end

      # Opens a connection; requests may be made at once.
      # @return [HttpClient2]
      def self.connect(*args)
        args = args.size == 2 ? { host: args[0], port: args[1] } : args.first
        host = args[:host]
        port = Integer(args[:port])
        tls = args[:tls] || args[:ssl]
        conn = EventMachine.connect(host, port, self)
        conn.start_tls if tls
        conn.set_default_host_header(host, port, tls)
        conn
      end

      # Sent with every request that does not give its own :authorization.
      attr_accessor :authorization

      def initialize(*)
        super
        warn "EventMachine::Protocols::HttpClient2 is deprecated: use em-http-request"
        @authorization = nil
        @closed = false
        @requests = []
      end

      def post_init
        super
        @connected = EventMachine::DefaultDeferrable.new
      end

      def connection_completed
        super
        @connected.succeed
      end

      # Every request still waiting fails, including one whose body was cut
      # short.
      def unbind
        @closed = true
        waiting = @requests
        @requests = []
        waiting.each(&:fail)
      end

      # GET +args+ (a URI or a Hash). @return [Request]
      def get(args)
        request(request_args(args).merge(verb: "GET"))
      end

      # POST +args+ (a URI or a Hash, :content being the body). @return [Request]
      def post(args)
        request(request_args(args).merge(verb: "POST"))
      end

      # The Host header: the host, with the port unless it is the scheme's.
      def set_default_host_header(host, port, ssl)
        @host_header = port == (ssl ? 443 : 80) ? host : "#{host}:#{port}"
      end

      # Sends a request (:verb, :uri...) once connected. @return [Request]
      def request(args)
        args[:host_header] = @host_header unless args.key?(:host_header)
        args[:authorization] = @authorization unless args.key?(:authorization)
        req = Request.new(self, args)
        if @closed
          req.fail
        else
          @requests << req
          @connected.callback { req.send_request }
        end
        req
      end

      def receive_line(line)
        @requests.first&.receive_line(line)
      end

      def receive_binary_data(text)
        @requests.first&.receive_text(text)
      end

      # @private The oldest request got its reply.
      def pop_request
        @requests.shift
      end

      private

      def request_args(args)
        args.is_a?(String) ? { uri: args } : args
      end
    end
  end
end
