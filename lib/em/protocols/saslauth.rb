# frozen_string_literal: true

module EventMachine
  module Protocols
    # The saslauthd wire protocol: a request is four counted strings (user,
    # password, service, realm), each a 16-bit big-endian length and the
    # bytes; the answer is one counted string, "OK" or "NO" (optionally
    # followed by a reason).
    #
    # SASLauth is the server side: include it and define
    # validate(user, password, service, realm) returning true or false.
    module SASLauth
      MaxFieldSize = 128 * 1024

      def post_init
        super
        @sasl_data = String.new(encoding: Encoding::BINARY)
        @sasl_values = []
      end

      def receive_data(data)
        (@sasl_data ||= String.new(encoding: Encoding::BINARY)) << data
        @sasl_values ||= []
        while (field = SASLauth.take_field(@sasl_data))
          @sasl_values << field
          next unless @sasl_values.size == 4

          ok = validate(*@sasl_values)
          @sasl_values = []
          send_data(SASLauth.field(ok ? "OK" : "NO"))
        end
      end

      # Decides a request. Override it; the default accepts everyone.
      def validate(_user, _password, _service, _realm)
        true
      end

      # @private A counted string.
      def self.field(value)
        value = value.to_s.b
        [value.bytesize].pack("n") << value
      end

      # @private Removes and returns the first complete counted string of
      # +buf+, or nil; raises if its declared length is over MaxFieldSize.
      def self.take_field(buf)
        return if buf.bytesize < 2

        len = buf.unpack1("n")
        raise "SASL Max Field Length exceeded" if len > MaxFieldSize
        return if buf.bytesize < len + 2

        value = buf.byteslice(2, len)
        buf.replace(buf.byteslice(len + 2, buf.bytesize - len - 2))
        value
      end
    end

    # The client side of SASLauth: include it, then validate?(user,
    # password, service, realm) returns a Deferrable that succeeds if the
    # server answers OK and fails otherwise. Answers come in request order.
    module SASLauthclient
      MaxFieldSize = SASLauth::MaxFieldSize

      def post_init
        super
        @sasl_data = String.new(encoding: Encoding::BINARY)
        @queries = []
      end

      # @return [EM::DefaultDeferrable]
      def validate?(username, psw, sysname = nil, realm = nil)
        send_data([username, psw, sysname, realm].map { |v| SASLauth.field(v) }.join)
        query = EventMachine::DefaultDeferrable.new
        (@queries ||= []) << query
        query
      end

      def receive_data(data)
        (@sasl_data ||= String.new(encoding: Encoding::BINARY)) << data
        @queries ||= []
        while (answer = SASLauth.take_field(@sasl_data))
          query = @queries.shift or next
          answer.start_with?("OK") ? query.succeed : query.fail
        end
      end
    end
  end
end
