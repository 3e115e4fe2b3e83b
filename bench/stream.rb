# frozen_string_literal: true
# One TCP stream of 256 MiB from client to server, both in this reactor, on
# 127.0.0.1. The client sends 64 KiB chunks with flow control, the way EM
# applications (and EM::FileStreamer) do it: each tick it sends while
# get_outbound_data_size is below THRESHOLD, then re-arms itself with next_tick.
# The server counts what receive_data gets. Timed from connection_completed to the
# last byte received; MB/s (10^6 bytes).
require_relative "lib/loader"
require_relative "lib/net"
require_relative "lib/stream_parts"

TOTAL = Bench.size(256 << 20, 16 << 20)
CHUNK_BYTES = 64 << 10
THRESHOLD = 1 << 20
CHUNK = Random.new(1).bytes(CHUNK_BYTES).freeze
raise "TOTAL must be a whole number of chunks" unless (TOTAL % CHUNK_BYTES).zero?

class Sink < EM::Connection
  include StreamSink
end

class Source < EM::Connection
  include StreamSource

  def connection_completed = start_pumping
end

Bench.run_stream("stream", Sink, Source)
