# frozen_string_literal: true

require_relative "streamer"

module EventMachine
  # Sends everything an IO yields over a connection, CHUNK_SIZE bytes at a
  # time, pausing while the connection's outbound buffer is over
  # FileStreamer::BackpressureLevel; with http_chunks: true, in HTTP chunked
  # encoding. A Deferrable that succeeds at the end of the IO (which it does
  # not close).
  #
  #   EM::IOStreamer.new(conn, File.open("big.bin"), http_chunks: false)
  #     .callback { conn.close_connection_after_writing }
  #
  # CHUNK_SIZE is looked up each time, so a program (or a subclass) may
  # redefine it.
  class IOStreamer
    include Deferrable

    CHUNK_SIZE = 16_384

    def initialize(connection, io, opts = {})
      @connection = connection
      @io = io
      @http_chunks = opts[:http_chunks]
      @io.binmode if @io.respond_to?(:binmode)
      stream_one_chunk
    end

    private

    def stream_one_chunk
      loop do
        if @io.eof?
          @connection.send_data("0\r\n\r\n") if @http_chunks
          return succeed
        end
        if @connection.respond_to?(:get_outbound_data_size) &&
           @connection.get_outbound_data_size > FileStreamer::BackpressureLevel
          EventMachine.next_tick { stream_one_chunk }
          return
        end

        chunk = @io.read(self.class::CHUNK_SIZE) or next
        FileStreamer.send_chunk(@connection, chunk, @http_chunks)
      end
    end
  end
end
