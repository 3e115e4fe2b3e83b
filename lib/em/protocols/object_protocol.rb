# frozen_string_literal: true

module EventMachine
  module Protocols
    # Sends and receives whole Ruby objects over a connection: each is
    # serialized and framed by its byte length (a 32-bit big-endian prefix).
    # Include it, define receive_object(obj), and call send_object(obj). The
    # serializer is Marshal unless #serializer returns another object with
    # dump and load (JSON, YAML...).
    #
    # Marshal.load of peer data is EventMachine's documented behaviour, and
    # is unsafe with an untrusted peer (it can build objects of any loaded
    # class): use another serializer there. A payload the serializer cannot
    # load (it raises a StandardError: Marshal's TypeError or ArgumentError,
    # JSON::ParserError...; or NoMemoryError: Marshal allocates a Hash by its
    # declared size) closes the connection; nothing more is read from it, and
    # the error does not leave receive_data. (EventMachine lets the error out
    # of receive_data, which stops the reactor.)
    module ObjectProtocol
      # The object that turns objects into bytes (dump) and back (load).
      def serializer
        Marshal
      end

      def receive_data(data)
        return if @op_unloadable

        buf = (@op_buf ||= String.new(encoding: Encoding::BINARY))
        buf << data
        start = 0
        while buf.bytesize - start >= 4
          size = buf.unpack1("N", offset: start)
          break if buf.bytesize - start - 4 < size

          payload = buf.byteslice(start + 4, size)
          start += 4 + size
          obj = op_load(payload)
          return if @op_unloadable

          receive_object(obj)
        end
        @op_buf = buf.byteslice(start, buf.bytesize - start) unless start.zero?
      end

      # Called with each object received. Override it.
      def receive_object(obj); end

      # Serializes +obj+ and sends it as one frame.
      def send_object(obj)
        payload = serializer.dump(obj)
        send_data([payload.bytesize].pack("N") << payload.b)
      end

      private

      # The loaded payload; on an error, closes the connection and drops
      # everything from then on.
      def op_load(payload)
        serializer.load(payload)
      rescue StandardError, NoMemoryError
        @op_unloadable = true
        @op_buf = nil
        close_connection
        nil
      end
    end
  end
end
