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

state = { received: 0, reads: 0, ticks: 0, t0: nil, t1: nil }
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "stream")
  port = Bench.server_port(EM.start_server(Bench::HOST, 0, Sink, state))
  EM.connect(Bench::HOST, port, Source, state)
end
raise "received #{state[:received]} of #{TOTAL} bytes" unless state[:received] == TOTAL

elapsed = state[:t1] - state[:t0]
Bench.report({ mb_per_s: { value: TOTAL / elapsed / 1e6, unit: "MB/s", better: "higher", label: "throughput" } },
             { bytes: TOTAL, chunk_bytes: CHUNK_BYTES, threshold_bytes: THRESHOLD, elapsed_s: elapsed,
               receive_data_calls: state[:reads], pump_ticks: state[:ticks],
               **Bench.cpu_spent(state[:cpu0], state[:cpu1]) })
