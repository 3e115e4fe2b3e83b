# frozen_string_literal: true

module EventMachine
  # Sends a file over a connection without reading it into memory at once,
  # pausing while the connection's outbound buffer is over BackpressureLevel.
  # With http_chunks: true the file goes out in HTTP chunked encoding, final
  # empty chunk included. A Deferrable: succeeds when all has been queued,
  # fails with "file not found".
  #
  # Connection#stream_file_data(filename, http_chunks: ...) makes one.
  class FileStreamer
    include Deferrable

    # Files up to this size go out in one piece (Connection#send_file_data).
    MappingThreshold = 16_384
    # Outbound bytes above which streaming waits for the next tick.
    BackpressureLevel = 50_000
    # Bytes read and sent per step.
    ChunkSize = 16_384

    def initialize(connection, filename, args = {})
      @connection = connection
      @http_chunks = args[:http_chunks]
      return fail("file not found") unless File.exist?(filename)

      @size = File.size(filename)
      @size <= MappingThreshold ? stream_small(filename) : stream_large(filename)
    end

    private

    def stream_small(filename)
      if @http_chunks && @size.positive?
        @connection.send_data("#{@size.to_s(16)}\r\n")
        send_whole(filename)
        @connection.send_data("\r\n")
      else
        send_whole(filename)
      end
      @connection.send_data("0\r\n\r\n") if @http_chunks
      succeed
    end

    def send_whole(filename)
      if @connection.respond_to?(:send_file_data)
        @connection.send_file_data(filename)
      else
        @connection.send_data(File.binread(filename))
      end
    end

    def stream_large(filename)
      @file = File.open(filename, "rb")
      stream_one_chunk
    end

    def stream_one_chunk
      loop do
        if @connection.respond_to?(:error?) && @connection.error?
          @file.close
          return fail("connection closed")
        end
        if @connection.get_outbound_data_size > BackpressureLevel
          EventMachine.next_tick { stream_one_chunk }
          return
        end

        chunk = @file.read(ChunkSize)
        unless chunk
          @file.close
          @connection.send_data("0\r\n\r\n") if @http_chunks
          return succeed
        end
        FileStreamer.send_chunk(@connection, chunk, @http_chunks)
      end
    end

    # Sends one chunk, framed for HTTP chunked encoding if `http_chunks`.
    def self.send_chunk(connection, chunk, http_chunks)
      connection.send_data("#{chunk.bytesize.to_s(16)}\r\n") if http_chunks
      connection.send_data(chunk)
      connection.send_data("\r\n") if http_chunks
    end
  end
end
