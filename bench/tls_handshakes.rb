# frozen_string_literal: true
# TLS handshakes per second on 127.0.0.1, client and server both in this reactor,
# for TLS 1.3 and then TLS 1.2 (ssl_version: "TLSv1_3" / "TLSv1_2" on both ends).
# The server has the RSA 2048 certificate of bench/lib/tls_cert.rb (made once by
# the driver); the client does not verify it (EM's default: no verify_peer) and
# resumes no session, so every handshake is a full one (ECDHE + an RSA signature).
# Each handshake is a new TCP connection: the client calls start_tls in
# connection_completed, the server in post_init; a handshake counts when both ends
# have had ssl_handshake_completed (the ends are paired by the client's port), and
# the client then closes the connection. At most WINDOW handshakes are in flight.
# Each version runs until N handshakes or until MAX_SECONDS have passed (then the
# ones in flight finish); rate = handshakes / (first connect .. last completed).
# The connections of one version have all unbound before the next version starts;
# WARMUP untimed handshakes first take the one-time library setup out of the numbers.
require_relative "lib/loader"
require_relative "lib/net"
require_relative "lib/tls_cert"

N = Bench.size(1_000, 40)
MAX_SECONDS = Bench.size(5.0, 2.0)
WINDOW = 50
WARMUP = 10
VERSIONS = { tls13: ["TLSv1_3", "TLSv1.3"], tls12: ["TLSv1_2", "TLSv1.2"] }.freeze
FILES = BenchTLS.server_files
LIMIT = Bench.raise_fd_limit(4 * WINDOW + 200)

# One batch of handshakes at one protocol version.
class Batch
  attr_reader :issued, :done, :unbound, :t0, :t1, :cpu0, :cpu1, :protocols

  def initialize(ssl_version, want, max_seconds, on_done)
    @ssl_version = ssl_version
    @want = want
    @max_seconds = max_seconds
    @on_done = on_done
    @pairs = {} # client port => [client done?, server done?, client connection]
    @issued = @done = @unbound = 0
    @protocols = Hash.new(0)
    @stopped_issuing = false
  end

  def start(port)
    @port = port
    @t0 = Bench.now
    @cpu0 = Bench.cpu
    pump
  end

  def pump
    @stopped_issuing ||= @issued >= @want || Bench.now - @t0 > @max_seconds
    while !@stopped_issuing && @issued < @want && @issued - @done < WINDOW
      EM.connect(Bench::HOST, @port, Client, self)
      @issued += 1
    end
  end

  def client_opts = { ssl_version: @ssl_version }
  def server_opts = BenchTLS.server_opts(FILES, ssl_version: @ssl_version)

  # side: 0 client, 1 server.
  def handshake_completed(conn, side, port)
    pair = (@pairs[port] ||= [false, false, nil])
    raise "two handshakes on client port #{port}" if pair[side]

    pair[side] = true
    pair[2] = conn if side.zero?
    @protocols[conn.get_cipher_protocol] += 1 if side.zero?
    return unless pair[0] && pair[1]

    @pairs.delete(port)
    @done += 1
    pair[2].close_connection
    pump
    if @done == @issued # nothing in flight and pump issued no more: the batch is over
      @t1 = Bench.now
      @cpu1 = Bench.cpu
    end
    check_finished
  end

  def unbound(side, handshaken)
    unless handshaken
      $stderr.puts "bench: a #{side.zero? ? 'client' : 'server'} connection closed before its handshake " \
                   "(#{@done} of #{@issued} done, #{@ssl_version})"
      exit!(5)
    end
    @unbound += 1
    check_finished
  end

  def check_finished
    @on_done.call(self) if @t1 && @unbound == 2 * @issued
  end
end

module Handshaking
  def initialize(batch)
    super()
    @batch = batch
    @handshaken = false
  end

  def ssl_handshake_completed
    @handshaken = true
    @batch.handshake_completed(self, side, client_port)
  end

  def unbind
    @batch.unbound(side, @handshaken)
  end
end

class Client < EM::Connection
  include Handshaking
  def side = 0
  def connection_completed = start_tls(@batch.client_opts)
  def client_port = Socket.unpack_sockaddr_in(get_sockname).first
end

class Server < EM::Connection
  include Handshaking
  def side = 1
  def post_init = start_tls(@batch.server_opts)
  def client_port = Socket.unpack_sockaddr_in(get_peername).first
end

results = {}
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "TLS handshakes")
  phases = [[:warmup, nil, WARMUP, 60.0]] + VERSIONS.map { |key, (version, _)| [key, version, N, MAX_SECONDS] }
  server = nil
  run_phase = lambda do
    key, version, want, max_seconds = phases.shift
    EM.stop_server(server) if server
    unless key
      EM.stop
      next
    end
    batch = Batch.new(version, want, max_seconds, lambda { |b|
      results[key] = b
      EM.next_tick(run_phase)
    })
    server = EM.start_server(Bench::HOST, 0, Server, batch)
    batch.start(Bench.server_port(server))
  end
  run_phase.call
end

metrics = {}
info = { n: N, max_seconds: MAX_SECONDS, window: WINDOW, warmup: WARMUP, fd_limit: LIMIT, cert: "RSA 2048 (#{FILES[:from]})" }
VERSIONS.each do |key, (_, protocol)|
  b = results.fetch(key)
  elapsed = b.t1 - b.t0
  unless b.protocols.keys == [protocol]
    abort "bench: #{key} negotiated #{b.protocols.inspect}, expected only #{protocol}"
  end
  metrics[:"#{key}_per_s"] = { value: b.done / elapsed, unit: "handshakes/s", better: "higher",
                               label: "#{protocol} handshakes" }
  info[key] = { handshakes: b.done, elapsed_s: elapsed, protocol: protocol, **Bench.cpu_spent(b.cpu0, b.cpu1) }
end
Bench.report(metrics, info)
