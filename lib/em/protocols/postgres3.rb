# frozen_string_literal: true

require "digest/md5"
require "securerandom"

module EventMachine
  module Protocols
    # An evented PostgreSQL client speaking version 3 of the wire protocol
    # (simple queries only). Authentication: trust, cleartext, crypt, MD5 and
    # SCRAM-SHA-256 (PostgreSQL's default since 14).
    #
    #   db = EM.connect("127.0.0.1", 5432, EM::P::Postgres3)
    #   db.connect("mydb", "me", "secret").callback do |ok, error|
    #     next p(error) unless ok
    #     db.query("select 1 as one").callback do |ok, result, errors|
    #       p result.fields.map(&:name), result.rows, result.cmd_tag, errors
    #     end
    #   end
    #
    # Deferrables follow EventMachine's pattern for this class: they succeed
    # with a status first (true, or false and a reason such as "lost
    # connection"), and fail only when 15 seconds pass without an answer. A
    # query's errors (ErrorResponse objects) come in the third argument.
    # One operation at a time: another one meanwhile succeeds at once with
    # false, "Operation already in progress".
    #
    # A malformed message from the server (a length under 4, a body too short
    # for its fields) closes the connection: the pending operation succeeds
    # with false and "malformed message from database: ...", and nothing more
    # is read. A well-formed message while no operation is pending raises
    # RuntimeError "Unexpected message from database", as in EventMachine.
    class Postgres3 < EventMachine::Connection
      PROTOCOL_VERSION = 3 << 16
      TIMEOUT = 15

      # The outcome of a query: +fields+ (FieldInfo), +rows+ (Arrays of
      # Strings, nil for NULL), +cmd_tag+ (e.g. "SELECT 1").
      class Result
        attr_accessor :fields, :rows, :cmd_tag

        def initialize
          @fields = []
          @rows = []
          @cmd_tag = nil
        end
      end

      # A column of a result.
      FieldInfo = Struct.new(:name, :oid, :attr_nr, :type_oid, :typlen, :atttypmod, :formatcode)

      # An error or notice from the server. +fields+ maps the protocol's
      # field codes to values ("S" severity, "C" SQLSTATE, "M" message...).
      class ErrorResponse
        attr_reader :fields

        def initialize(fields)
          @fields = fields
        end

        def severity = fields["S"]
        def code = fields["C"]
        def message = fields["M"]
        def field_values = fields.values
        def to_s = field_values.join("\t")
      end
      NoticeResponse = ErrorResponse

      # @private Raised by the parsers on a malformed message; receive_data
      # turns it into a closed connection.
      class MalformedMessage < StandardError; end
      private_constant :MalformedMessage

      # Server settings reported at startup ({ "server_version" => ... }).
      attr_reader :params

      def initialize(*)
        super
        @data = String.new(encoding: Encoding::BINARY)
        @params = {}
        @pending_conn = nil
        @pending_query = nil
        @notice_processor = nil
      end

      # Calls the block with each NoticeResponse.
      def on_notice(&blk)
        @notice_processor = blk
      end

      # Logs in to database +db+ as +user+. @return [EM::DefaultDeferrable]
      def connect(db, user, psw = nil)
        start_operation do |d|
          @pending_conn = d
          @user = user
          @password = psw
          params = { "user" => user, "database" => db }.map { |k, v| "#{k}\0#{v}\0" }.join
          body = [PROTOCOL_VERSION].pack("N") << params.b << "\0"
          send_data([body.bytesize + 4].pack("N") << body)
        end
      end

      # Runs +sql+ (several statements allowed). @return [EM::DefaultDeferrable]
      def query(sql)
        start_operation do |d|
          @result = Result.new
          @errors = []
          @pending_query = d
          send_message("Q", cstring(sql))
        end
      end

      def receive_data(data)
        return if @pg_closed

        @data << data
        while @data.bytesize >= 5
          len = @data.unpack1("N", offset: 1)
          raise MalformedMessage, "length #{len}" if len < 4
          break if @data.bytesize < len + 1

          type = @data.byteslice(0, 1)
          body = @data.byteslice(5, len - 4)
          @data = @data.byteslice(len + 1, @data.bytesize - len - 1)
          dispatch(type, body)
          return if @pg_closed
        end
      rescue MalformedMessage => e
        malformed(e.message)
      end

      def unbind
        op = @pending_query || @pending_conn
        @pending_query = @pending_conn = nil
        op&.succeed(false, "lost connection")
      end

      private

      # Gives up on the connection: the pending operation succeeds with false.
      def malformed(why)
        op = @pending_query || @pending_conn
        @pending_query = @pending_conn = nil
        @pg_closed = true
        @data = String.new(encoding: Encoding::BINARY)
        op&.succeed(false, "malformed message from database: #{why}")
        close_connection
      end

      def start_operation
        d = EventMachine::DefaultDeferrable.new
        d.timeout(TIMEOUT)
        if @pending_query || @pending_conn
          d.succeed(false, "Operation already in progress")
        else
          yield d
        end
        d
      end

      def send_message(type, body)
        body = body.b
        send_data(type.b << [body.bytesize + 4].pack("N") << body)
      end

      def cstring(text)
        "#{text}\0".b
      end

      # Reads the NUL-terminated strings of +body+ from +pos+ on.
      def read_cstring(body, pos)
        raise MalformedMessage, "truncated string" if pos > body.bytesize

        stop = body.index("\0", pos) || body.bytesize
        [body.byteslice(pos, stop - pos), stop + 1]
      end

      def dispatch(type, body)
        if type == "N"
          @notice_processor&.call(parse_error(body))
        elsif @pending_conn
          connect_message(type, body)
        elsif @pending_query
          query_message(type, body)
        elsif type != "S" # parameter changes may come at any time
          raise "Unexpected message from database"
        end
        @params.store(*parse_parameter(body)) if type == "S"
      end

      def connect_message(type, body)
        case type
        when "R" then authentication(body)
        when "E" then connect_done(false, parse_error(body).to_s)
        when "Z" then connect_done(true)
        end # "S" (recorded by dispatch), "K" (cancel key): nothing to do
      end

      def connect_done(ok, *why)
        d = @pending_conn
        @pending_conn = nil
        d.succeed(ok, *why)
        return if ok

        @pg_closed = true # what else arrives is not read
        close_connection
      end

      def authentication(body)
        raise MalformedMessage, "truncated authentication request" if body.bytesize < 4

        code = body.unpack1("N")
        return if code.zero? # AuthenticationOk; ReadyForQuery follows
        return connect_done(false, "no password specified") if @password.nil? && [3, 4, 5, 10].include?(code)

        case code
        when 3 then send_message("p", cstring(@password))
        when 4 then send_message("p", cstring(@password.crypt(salt(body, 2))))
        when 5
          md5_salt = salt(body, 4)
          inner = Digest::MD5.hexdigest("#{@password}#{@user}")
          send_message("p", cstring("md5#{Digest::MD5.hexdigest(inner + md5_salt)}"))
        when 10 then scram_start(body.byteslice(4..-1))
        when 11 then scram_continue(body.byteslice(4..-1))
        when 12 then scram_finish(body.byteslice(4..-1))
        else connect_done(false, "unsupported authentication (code #{code})")
        end
      end

      # The +size+ salt bytes after the code of an authentication request.
      def salt(body, size)
        salt = body.byteslice(4, size)
        raise MalformedMessage, "bad salt" unless salt.bytesize == size && !salt.include?("\0")

        salt
      end

      def query_message(type, body)
        case type
        when "T" then @result.fields = parse_fields(body)
        when "D" then @result.rows << parse_row(body)
        when "C" then @result.cmd_tag = read_cstring(body, 0).first
        when "E" then @errors << parse_error(body)
        when "Z"
          d = @pending_query
          @pending_query = nil
          d.succeed(true, @result, @errors)
        end # "I" (empty query), "G"/"H" (COPY): nothing to do
      end

      def parse_parameter(body)
        key, pos = read_cstring(body, 0)
        [key, read_cstring(body, pos).first]
      end

      def parse_error(body)
        fields = {}
        pos = 0
        while pos < body.bytesize && body.getbyte(pos) != 0
          code = body.byteslice(pos, 1)
          fields[code], pos = read_cstring(body, pos + 1)
        end
        ErrorResponse.new(fields)
      end

      def parse_fields(body)
        count = count(body)
        pos = 2
        Array.new(count) do
          name, pos = read_cstring(body, pos)
          raise MalformedMessage, "truncated field description" if body.bytesize < pos + 18

          rest = body.unpack("NnNnNn", offset: pos)
          pos += 18
          FieldInfo.new(name, *rest)
        end
      end

      def parse_row(body)
        count = count(body)
        pos = 2
        Array.new(count) do
          raise MalformedMessage, "truncated row" if body.bytesize < pos + 4

          len = body.unpack1("l>", offset: pos)
          pos += 4
          next nil if len.negative?
          raise MalformedMessage, "truncated row" if body.bytesize < pos + len

          value = body.byteslice(pos, len)
          pos += len
          value
        end
      end

      # The 16-bit count that starts a RowDescription or DataRow.
      def count(body)
        raise MalformedMessage, "truncated count" if body.bytesize < 2

        body.unpack1("n")
      end

      # --- SCRAM-SHA-256 (RFC 5802 / 7677) --------------------------------

      def scram_start(mechanisms)
        return connect_done(false, "unsupported SASL mechanisms: #{mechanisms.split("\0").join(' ')}") unless mechanisms.split("\0").include?("SCRAM-SHA-256")

        require "openssl"
        @scram_nonce = scram_client_nonce
        @scram_first_bare = "n=,r=#{@scram_nonce}"
        first = "n,,#{@scram_first_bare}"
        send_message("p", cstring("SCRAM-SHA-256") << [first.bytesize].pack("N") << first.b)
      end

      def scram_client_nonce
        SecureRandom.base64(18)
      end

      def scram_continue(server_first)
        attrs = scram_attributes(server_first)
        nonce = attrs["r"]
        return connect_done(false, "SCRAM: bad server nonce") unless @scram_nonce && nonce&.start_with?(@scram_nonce)

        iterations = Integer(attrs["i"].to_s, 10, exception: false)
        return connect_done(false, "SCRAM: bad salt or iteration count") unless attrs["s"] && iterations&.positive?

        salted = OpenSSL::KDF.pbkdf2_hmac(@password.to_s, salt: attrs["s"].unpack1("m"),
                                                          iterations: iterations, length: 32, hash: "SHA256")
        final_bare = "c=biws,r=#{nonce}"
        auth_message = "#{@scram_first_bare},#{server_first},#{final_bare}"
        client_key = scram_hmac(salted, "Client Key")
        signature = scram_hmac(OpenSSL::Digest.digest("SHA256", client_key), auth_message)
        proof = client_key.bytes.zip(signature.bytes).map { |a, b| a ^ b }.pack("C*")
        @scram_server_signature = scram_hmac(scram_hmac(salted, "Server Key"), auth_message)
        send_message("p", "#{final_bare},p=#{[proof].pack('m0')}")
      end

      def scram_finish(server_final)
        verifier = scram_attributes(server_final)["v"]
        return if verifier && verifier.unpack1("m") == @scram_server_signature

        connect_done(false, "SCRAM: the server's signature does not match")
      end

      def scram_attributes(message)
        message.split(",").to_h { |kv| kv.split("=", 2).values_at(0, 1) }
      end

      def scram_hmac(key, text)
        OpenSSL::HMAC.digest("SHA256", key, text)
      end
    end
  end
end
