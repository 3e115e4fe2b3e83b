# frozen_string_literal: true

module EventMachine
  module Protocols
    # A one-request HTTP/1.1 client (deprecated in EventMachine in favour of
    # em-http-request, kept for the programs that use it).
    #
    #   http = EM::P::HttpClient.request(host: "127.0.0.1", port: 8080, request: "/x")
    #   http.callback { |r| p r[:status], r[:headers], r[:content] }
    #   http.errback  { |r| p r[:status] } # 0: no connection or a bad reply
    #
    # A bad reply (no HTTP/1.x status line, a negative Content-Length, a
    # chunk-size line that is not hex) fails the request and closes the
    # connection; nothing the server sends raises out of receive_data.
    #
    # Arguments: :host, :port (80), :verb or :method (:get; GET POST PUT DELETE
    # HEAD), :request ("/"), :query_string, :version ("1.1"), :host_header,
    # :content and :contenttype (for POST and PUT), :cookie, :custom_headers
    # (Hash), :basic_auth ({username:, password:}).
    #
    # The callback gets { status: Integer, headers: [status line, header
    # lines...], content: String }; the connection is closed after the reply.
    class HttpClient < Connection
      include EventMachine::Deferrable

      MaxPostContentLength = 20 * 1024 * 1024

      VERBS = %w[GET POST PUT DELETE HEAD].freeze
      private_constant :VERBS

      # Connects and sends the request once connected.
      # @return [HttpClient] the connection, a Deferrable
      def self.request(args = {})
        args[:port] ||= 80
        EventMachine.connect(args[:host], args[:port], self) { |c| c.args = args }
      end

      attr_writer :args

      def initialize(*)
        super
        warn "EventMachine::Protocols::HttpClient is deprecated: use em-http-request"
        @connected = false
        @finished = false
      end

      def post_init
        @start_time = Time.now
        @buf = String.new(encoding: Encoding::BINARY)
        @state = :status
        @headers = []
        @content = String.new(encoding: Encoding::BINARY)
        @status = nil
      end

      def connection_completed
        @connected = true
        send_request(@args)
      end

      # Writes the request described by +args+ (see the class notes).
      def send_request(args)
        args[:verb] ||= args[:method] || :get
        @verb = args[:verb].to_s.upcase
        return finish_failed unless VERBS.include?(@verb)

        body = args[:content] || ""
        raise "oversized content in HTTP POST" if body.bytesize > MaxPostContentLength

        send_data(request_head(args, body))
        send_data(body) if with_body?
      end

      def receive_data(data)
        @buf << data
        nil while !@finished && step
      end

      def unbind
        return if @finished

        if !@connected || @state != :until_close
          finish_failed(closed: true)
        else
          finish(closed: true)
        end
      end

      private

      def with_body?
        @verb == "POST" || @verb == "PUT"
      end

      def request_head(args, body)
        path = args[:request] || "/"
        path = "/#{path}" unless path.start_with?("/")
        query = args[:query_string] || ""
        query = "?#{query}" unless query.empty? || query.start_with?("?")
        port = args[:port].to_i == 80 ? "" : ":#{args[:port]}"
        lines = ["#{@verb} #{path}#{query} HTTP/#{args[:version] || '1.1'}",
                 "Host: #{args[:host_header] || args[:host] || '_'}#{port}",
                 "User-agent: Ruby EventMachine"]
        if with_body?
          lines << "Content-type: #{args[:contenttype] || 'application/octet-stream'}"
          lines << "Content-length: #{body.bytesize}"
        end
        lines << "Cookie: #{args[:cookie]}" if args[:cookie]
        args[:custom_headers]&.each { |name, value| lines << "#{name}: #{value}" }
        if (auth = args[:basic_auth])
          lines << "Authorization: Basic #{["#{auth[:username]}:#{auth[:password]}"].pack('m0')}"
        end
        lines.map { |l| "#{l}\r\n" }.join << "\r\n"
      end

      # Parses what it can of the buffer; false when it needs more data.
      def step
        case @state
        when :status, :headers, :chunk_size, :chunk_end then line_step
        when :sized then sized_step
        when :chunk then chunk_step
        when :until_close
          @content << @buf
          @buf.clear
          false
        else false
        end
      end

      def take_line
        at = @buf.index("\n") or return
        line = @buf.byteslice(0, at)
        @buf = @buf.byteslice(at + 1, @buf.bytesize - at - 1)
        line.chomp("\r")
      end

      def line_step
        line = take_line or return false
        case @state
        when :status then status_line(line)
        when :headers then line.empty? ? headers_done : header_line(line)
        when :chunk_size then chunk_size_line(line)
        when :chunk_end then @state = :chunk_size
        end
        true
      end

      def status_line(line)
        return if line.empty? && @headers.empty? # stray blank lines before the reply

        @headers << line
        m = %r{\AHTTP/1\.[01] (\d{3})}.match(line)
        return finish_failed unless m

        @status = m[1].to_i
        @state = :headers
      end

      def header_line(line)
        @headers << line
        case line
        when /\Acontent-length:\s*/i then @length ||= $'.to_i
        when /\Aconnection:\s*close/i then @close = true
        when /\Atransfer-encoding:\s*chunked/i then @chunked = true
        end
      end

      # "1a", "1a;ext=v", " 1a ;ext": hex digits, with optional whitespace
      # and chunk extensions (ignored).
      CHUNK_SIZE = /\A[ \t]*(\h+)[ \t]*(?:;.*)?\z/m
      private_constant :CHUNK_SIZE

      # A size line that is not hex is a bad reply: the request fails.
      def chunk_size_line(line)
        m = CHUNK_SIZE.match(line) or return finish_failed

        @chunk_left = m[1].to_i(16)
        @chunk_left.zero? ? finish : (@state = :chunk)
      end

      # A negative Content-Length is a bad reply: the request fails.
      def headers_done
        if @length&.negative?
          finish_failed
        elsif @verb == "HEAD" || @status < 200 || @status == 204 || @status == 304
          finish
        elsif @chunked
          @state = :chunk_size
        elsif @length
          @length.positive? ? (@state = :sized) : finish
        elsif @close || @headers.first.start_with?("HTTP/1.0")
          @state = :until_close
        else
          finish
        end
      end

      def sized_step
        return false if @buf.empty?

        take = [@length - @content.bytesize, @buf.bytesize].min
        @content << @buf.byteslice(0, take)
        @buf = @buf.byteslice(take, @buf.bytesize - take)
        finish if @content.bytesize == @length
        true
      end

      def chunk_step
        return false if @buf.empty?

        take = [@chunk_left, @buf.bytesize].min
        @content << @buf.byteslice(0, take)
        @buf = @buf.byteslice(take, @buf.bytesize - take)
        @chunk_left -= take
        @state = :chunk_end if @chunk_left.zero?
        true
      end

      def finish(closed: false)
        @finished = true
        @state = :done
        succeed(content: @content, headers: @headers, status: @status)
        close_connection unless closed
      end

      def finish_failed(closed: false)
        @finished = true
        @state = :done
        fail(status: 0)
        close_connection unless closed
      end
    end
  end
end
