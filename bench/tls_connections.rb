# frozen_string_literal: true
# 1,000 concurrent TLS connections on 127.0.0.1, all handshaken, server and clients
# in this reactor: each connection is two sockets, two EM::Connection objects and
# two TLS sessions (a server end with the RSA 2048 certificate of
# bench/lib/tls_cert.rb and a client end), so the RSS figure is for both ends.
# Default ssl_version (TLS 1.3 with OpenSSL 3). Clients call start_tls in
# connection_completed, the server in post_init; at most WINDOW handshakes are in
# flight. One TLS connection is opened, handshaken and closed first (untimed, not
# counted) so the one-time library and certificate setup is not charged to the
# connections. RSS per connection: (VmRSS with all n handshaken on both ends -
# VmRSS before the first) / n, both after a full GC, in kB. Setup rate (no target;
# tls_handshakes measures handshakes): n / (first connect .. last handshake).
require_relative "lib/loader"
require_relative "lib/net"
require_relative "lib/tls_cert"

WANT = Bench.size(1_000, 50)
WINDOW = 50
FILES = BenchTLS.server_files
limit = Bench.raise_fd_limit(2 * WANT + 100)
N = [WANT, (limit - 100) / 2].min
$stderr.puts "bench: fd limit #{limit} holds only #{N} of #{WANT} connections" if N < WANT

module Counted
  def initialize(state)
    super()
    @state = state
    @handshaken = false
  end

  def ssl_handshake_completed
    @handshaken = true
    @state[:handshaken] += 1
    @state[:pump].call
  end

  def unbind
    return if @state[:closing]

    $stderr.puts "bench: a #{self.class} connection closed #{@handshaken ? 'after' : 'before'} its handshake " \
                 "(#{@state[:handshaken]} of #{2 * @state[:issued]} ends handshaken)"
    exit!(5)
  end
end

class TLSServer < EM::Connection
  include Counted
  def post_init = start_tls(BenchTLS.server_opts(FILES))
end

class TLSClient < EM::Connection
  include Counted
  def connection_completed = start_tls
end

# The untimed first connection: handshakes, then closes both ends.
class WarmServer < EM::Connection
  def post_init = start_tls(BenchTLS.server_opts(FILES))
  def unbind = EM.next_tick { $warm_done.call }
end

class WarmClient < EM::Connection
  def connection_completed = start_tls
  def ssl_handshake_completed = close_connection_after_writing
end

state = { issued: 0, handshaken: 0, closing: false, t0: nil, t1: nil }
rss = {}
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "TLS connection setup")
  warm = EM.start_server(Bench::HOST, 0, WarmServer)
  port = Bench.server_port(EM.start_server(Bench::HOST, 0, TLSServer, state))
  state[:pump] = lambda do
    # handshaken counts ends: a connection is done when both of its ends are.
    while state[:issued] < N && 2 * state[:issued] - state[:handshaken] < 2 * WINDOW
      EM.connect(Bench::HOST, port, TLSClient, state)
      state[:issued] += 1
    end
    next unless state[:handshaken] == 2 * N && !state[:t1]

    state[:t1] = Bench.now
    state[:cpu1] = Bench.cpu
    GC.start
    rss[:after] = Bench.rss_kb
    state[:closing] = true
    EM.stop
  end
  $warm_done = lambda do
    EM.stop_server(warm)
    GC.start
    rss[:before] = Bench.rss_kb
    state[:t0] = Bench.now
    state[:cpu0] = Bench.cpu
    state[:pump].call
  end
  EM.connect(Bench::HOST, Bench.server_port(warm), WarmClient)
end
raise "handshook #{state[:handshaken]} of #{2 * N} ends" unless state[:t1]

elapsed = state[:t1] - state[:t0]
per_conn_kb = (rss[:after] - rss[:before]).to_f / N
Bench.report({ rss_per_conn_kb: { value: per_conn_kb, unit: "kB", better: "lower",
                                  label: "RSS per TLS connection (both ends)" },
               conns_per_s: { value: N / elapsed, unit: "conns/s", better: "higher", label: "TLS setup rate" } },
             { n: N, wanted: WANT, fd_limit: limit, window: WINDOW, elapsed_s: elapsed,
               cert: "RSA 2048 (#{FILES[:from]})", rss_before_kb: rss[:before], rss_after_kb: rss[:after],
               **Bench.cpu_spent(state[:cpu0], state[:cpu1]) })
