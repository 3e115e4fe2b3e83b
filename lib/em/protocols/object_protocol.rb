# frozen_string_literal: true

module EventMachine
  module Protocols
    # Sends and receives whole Ruby objects over a connection: each is
    # serialized and framed by its byte length (a 32-bit big-endian prefix).
    # Include it, define receive_object(obj), and call send_object(obj). The
    # serializer is Marshal unless #serializer returns another object with
    # dump and load (JSON, YAML...).
    module ObjectProtocol
      # The object that turns objects into bytes (dump) and back (load).
      def serializer
        Marshal
      end

      def receive_data(data)
        buf = (@op_buf ||= String.new(encoding: Encoding::BINARY))
        buf << data
        start = 0
        while buf.bytesize - start >= 4
          size = buf.unpack1("N", offset: start)
          break if buf.bytesize - start - 4 < size

          payload = buf.byteslice(start + 4, size)
          start += 4 + size
          receive_object(serializer.load(payload))
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
    end
  end
end
