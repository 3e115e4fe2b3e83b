# frozen_string_literal: true
# A pure-Ruby transport for RethinkDB's V1_0 JSON protocol over TCPSocket, with
# the interface of RethinkDB::Native::Socket:
#
#   RubyReqlClient::Transport.connect(host, port, user, password, timeout)
#   #send_query(token, json)   #read_response(timeout) -> [token, Hash] | nil
#   #close                     #closed?
#
# With it, a RethinkDB::Connection works the way the official rethinkdb gem
# does: the socket is read by a Ruby thread per connection (RethinkDB::ThreadPump)
# that hands every response to the reactor with EM.next_tick. The benchmarks use
# it as that baseline, and the specs as a second, independent implementation of
# the protocol.
#
#   conn = r.connect(port: 28015, transport: RubyReqlClient::Transport)
require "socket"
require "json"
require "openssl"
require "base64"
require "securerandom"

module RubyReqlClient
  class Transport
    V1_0 = 0x34c2bdc3
    HEADER = 12 # token u64 LE + length u32 LE
    READ_CHUNK = 65_536

    def self.connect(host, port, user, password, timeout)
      new(host, port, user, password, timeout)
    end

    def initialize(host, port, user, password, timeout)
      @write_lock = Mutex.new
      @buffer = +"".b
      @offset = 0
      @closed = false
      @socket = open_socket(host, port, timeout)
      handshake(user.to_s, password.to_s, timeout)
    rescue RethinkDB::ReqlError
      close
      raise
    end

    def send_query(token, json)
      payload = json.b
      frame = [token, payload.bytesize].pack("Q<L<") << payload
      @write_lock.synchronize { @socket.write(frame) }
      nil
    rescue IOError, SystemCallError => e
      raise RethinkDB::ReqlDriverError, "Connection closed by server (#{e.message})."
    end

    # The next response frame, or nil if none is complete within `timeout`
    # seconds (nil: wait forever). A partial frame stays buffered.
    def read_response(timeout)
      deadline = timeout && (now + timeout)
      loop do
        if available >= HEADER
          token, length = @buffer.unpack("Q<L<", offset: @offset)
          if available >= HEADER + length
            body = @buffer.byteslice(@offset + HEADER, length)
            consume(HEADER + length)
            return [token, decode(body)]
          end
        end
        return nil unless fill(deadline)
      end
    end

    def close
      @closed = true
      @socket&.close unless @socket&.closed?
    rescue IOError
      nil
    end

    def closed?
      @closed
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def open_socket(host, port, timeout)
      socket = Socket.tcp(host, port, connect_timeout: timeout)
      socket.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
      socket.setsockopt(Socket::SOL_SOCKET, Socket::SO_KEEPALIVE, 1)
      socket
    rescue SystemCallError, SocketError, IOError => e
      raise RethinkDB::ReqlDriverError, "Could not connect to #{host}:#{port}.\n#{e.message}"
    end

    def decode(body)
      JSON.parse(body.force_encoding(Encoding::UTF_8), max_nesting: false)
    rescue JSON::ParserError => e
      raise RethinkDB::ReqlDriverError, "Bad response, server is buggy.\n#{e.message}"
    end

    def available
      @buffer.bytesize - @offset
    end

    def consume(count)
      @offset += count
      return if @offset < READ_CHUNK
      @buffer = @buffer.byteslice(@offset..)
      @offset = 0
    end

    # Reads what the socket has; false at the deadline. Raises at EOF.
    def fill(deadline)
      loop do
        chunk = @socket.read_nonblock(READ_CHUNK, exception: false)
        case chunk
        when :wait_readable
          left = deadline && (deadline - now)
          return false if left && left <= 0
          IO.select([@socket], nil, nil, left)
        when nil
          raise RethinkDB::ReqlDriverError, "Connection closed by server."
        else
          @buffer << chunk
          return true
        end
      end
    rescue IOError, SystemCallError => e
      raise RethinkDB::ReqlDriverError, "Connection closed by server (#{e.message})."
    end

    # --- V1_0 handshake with SCRAM-SHA-256 -----------------------------------

    def handshake(user, password, timeout)
      deadline = now + timeout
      nonce = SecureRandom.base64(18)
      first_bare = "n=#{user.gsub('=', '=3D').gsub(',', '=2C')},r=#{nonce}"
      @socket.write([V1_0].pack("L<"))
      send_json(protocol_version: 0, authentication_method: "SCRAM-SHA-256", authentication: "n,,#{first_bare}")

      version = receive_json(deadline)
      min = version["min_protocol_version"]
      max = version["max_protocol_version"]
      unless min.is_a?(Integer) && max.is_a?(Integer) && min <= 0 && max >= 0
        raise RethinkDB::ReqlDriverError, "Version mismatch: Driver uses 0 but server accepts [#{min}, #{max}]."
      end

      server_first = receive_json(deadline)["authentication"].to_s
      fields = scram_fields(server_first)
      server_nonce = fields["r"].to_s
      unless server_nonce.start_with?(nonce)
        raise RethinkDB::ReqlDriverError, "Invalid nonce #{server_nonce} received from server."
      end
      without_proof = "c=biws,r=#{server_nonce}"
      auth_message = "#{first_bare},#{server_first},#{without_proof}"
      salted = OpenSSL::KDF.pbkdf2_hmac(password, salt: Base64.decode64(fields["s"].to_s),
                                                  iterations: Integer(fields["i"]), length: 32, hash: "sha256")
      client_key = hmac(salted, "Client Key")
      signature = hmac(OpenSSL::Digest.digest("SHA256", client_key), auth_message)
      proof = client_key.bytes.zip(signature.bytes).map { |a, b| a ^ b }.pack("C*")
      send_json(authentication: "#{without_proof},p=#{Base64.strict_encode64(proof)}")

      claim = Base64.decode64(scram_fields(receive_json(deadline)["authentication"].to_s)["v"].to_s)
      expected = hmac(hmac(salted, "Server Key"), auth_message)
      return if claim.bytesize == expected.bytesize && OpenSSL.fixed_length_secure_compare(claim, expected)
      raise RethinkDB::ReqlAuthError, "Server signature #{Base64.strict_encode64(claim)} does not match " \
                                      "expected signature #{Base64.strict_encode64(expected)}."
    rescue RethinkDB::ReqlError
      raise
    rescue StandardError => e
      raise RethinkDB::ReqlDriverError, "Error during handshake: #{e.inspect}"
    end

    def hmac(key, data)
      OpenSSL::HMAC.digest("SHA256", key, data)
    end

    def scram_fields(message)
      message.split(",").to_h { |field| field.split("=", 2) }
    end

    def send_json(object)
      @socket.write(JSON.generate(object) + "\0")
    end

    # One NUL-terminated handshake message.
    def receive_json(deadline)
      until (stop = @buffer.index("\0", @offset))
        next if fill(deadline)
        raise RethinkDB::ReqlDriverError, "Timed out during the handshake."
      end
      text = @buffer.byteslice(@offset, stop - @offset)
      consume(stop + 1 - @offset)
      message = JSON.parse(text.force_encoding(Encoding::UTF_8))
      return message if message["success"]
      code = message["error_code"]
      if code.is_a?(Integer) && code.between?(10, 20)
        raise RethinkDB::ReqlAuthError, message["error"].to_s.empty? ? "Handshake error (#{message})." : message["error"]
      end
      raise RethinkDB::ReqlDriverError, "Handshake error (#{message})."
    rescue RethinkDB::ReqlDriverError => e
      raise if e.message.start_with?("Handshake error", "Timed out") || e.is_a?(RethinkDB::ReqlAuthError)
      raise RethinkDB::ReqlDriverError, "Connection closed by server (#{e.message})."
    rescue JSON::ParserError => e
      raise RethinkDB::ReqlDriverError, "Connection closed by server (#{e.message})."
    end
  end
end
