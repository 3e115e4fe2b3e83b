# frozen_string_literal: true
# One TLS stream of 64 MiB from client to server, both in this reactor, on
# 127.0.0.1: bench/stream.rb over start_tls (default ssl_version, so TLS 1.3 with
# OpenSSL 3; the server has the RSA 2048 certificate of bench/lib/tls_cert.rb). The
# client sends 64 KiB chunks with flow control, as EM applications do: each tick it
# sends while get_outbound_data_size is below THRESHOLD, then re-arms itself with
# next_tick. The server counts the plaintext receive_data gets. Timed from the
# client's ssl_handshake_completed to the last byte received; MB/s (10^6 bytes of
# plaintext).
require_relative "lib/loader"
require_relative "lib/net"
require_relative "lib/stream_parts"
require_relative "lib/tls_cert"

TOTAL = Bench.size(64 << 20, 4 << 20)
CHUNK_BYTES = 64 << 10
THRESHOLD = 1 << 20
CHUNK = Random.new(1).bytes(CHUNK_BYTES).freeze
FILES = BenchTLS.server_files
raise "TOTAL must be a whole number of chunks" unless (TOTAL % CHUNK_BYTES).zero?

class Sink < EM::Connection
  include StreamSink

  def post_init = start_tls(BenchTLS.server_opts(FILES))
end

class Source < EM::Connection
  include StreamSource

  def connection_completed = start_tls

  def ssl_handshake_completed
    @state[:protocol] = get_cipher_protocol
    @state[:cipher] = get_cipher_name
    start_pumping
  end
end

Bench.run_stream("TLS stream", Sink, Source) do |state|
  { protocol: state[:protocol], cipher: state[:cipher], cert: "RSA 2048 (#{FILES[:from]})" }
end
