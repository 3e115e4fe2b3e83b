# frozen_string_literal: true
# 5,000 concurrent TCP connections on 127.0.0.1, server and clients in this
# reactor (so each connection is two sockets and two EM::Connection objects).
# Clients are opened with at most WINDOW not yet accepted by the server (EM's
# listen backlog is 100: a bigger burst would measure SYN retransmits, not the
# reactor). Setup rate: connections/s from the first connect until the last one is
# both accepted (server post_init) and completed (client connection_completed).
# RSS per connection: (VmRSS with all open - VmRSS before the first) / n, both
# after a full GC, in kB. The fd limit is raised with EM.set_descriptor_table_size;
# if the hard limit cannot hold 2n + 100 descriptors, n is scaled down (see info).
require_relative "lib/loader"
require_relative "lib/net"

WANT = Bench.size(5_000, 500)
WINDOW = 64
limit = Bench.raise_fd_limit(2 * WANT + 100)
N = [WANT, (limit - 100) / 2].min
$stderr.puts "bench: fd limit #{limit} holds only #{N} of #{WANT} connections" if N < WANT

class Accepted < EM::Connection
  def initialize(state)
    super()
    @state = state
  end

  def post_init
    @state[:accepted] += 1
    @state[:pump].call
    @state[:check].call
  end

  def unbind
    raise "a server-side connection closed early" unless @state[:t1]
  end
end

class Client < EM::Connection
  def initialize(state)
    super()
    @state = state
  end

  def connection_completed
    @state[:completed] += 1
    @state[:check].call
  end

  def unbind
    raise "a client connection closed before setup finished (#{@state[:completed]} of #{N} up)" unless @state[:t1]
  end
end

state = { issued: 0, accepted: 0, completed: 0, t0: nil, t1: nil }
clients = []
rss = {}
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "connection setup")
  port = Bench.server_port(EM.start_server(Bench::HOST, 0, Accepted, state))
  state[:pump] = lambda do
    while state[:issued] < N && state[:issued] - state[:accepted] < WINDOW
      clients << EM.connect(Bench::HOST, port, Client, state)
      state[:issued] += 1
    end
  end
  state[:check] = lambda do
    next unless state[:accepted] == N && state[:completed] == N && !state[:t1]

    state[:t1] = Bench.now
    state[:cpu1] = Bench.cpu
    GC.start
    rss[:after] = Bench.rss_kb
    EM.stop
  end
  GC.start
  rss[:before] = Bench.rss_kb
  state[:t0] = Bench.now
  state[:cpu0] = Bench.cpu
  state[:pump].call
end
raise "set up #{state[:accepted]}/#{state[:completed]} of #{N}" unless state[:t1]

elapsed = state[:t1] - state[:t0]
per_conn_kb = (rss[:after] - rss[:before]).to_f / N
Bench.report({ conns_per_s: { value: N / elapsed, unit: "conns/s", better: "higher", label: "setup rate" },
               rss_per_conn_kb: { value: per_conn_kb, unit: "kB", better: "lower",
                                  label: "RSS per connection (both ends)" } },
             { n: N, wanted: WANT, fd_limit: limit, window: WINDOW, elapsed_s: elapsed,
               rss_before_kb: rss[:before], rss_after_kb: rss[:after],
               **Bench.cpu_spent(state[:cpu0], state[:cpu1]) })
