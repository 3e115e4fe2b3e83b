# frozen_string_literal: true
# TCP echo ping-pong, all in one reactor: an echo server and 50 clients on
# 127.0.0.1. Each client sends a 64-byte message and sends the next one only when
# the whole echo is back; n round trips in total, counted from the moment all 50
# clients are connected. Round trips/s.
require_relative "lib/loader"
require_relative "lib/net"

N = Bench.size(200_000, 5_000)
CLIENTS = 50
MSG = ("x" * 63 + "\n").b.freeze

class EchoServer < EM::Connection
  def receive_data(data) = send_data(data)
end

class PingClient < EM::Connection
  def initialize(state)
    super()
    @state = state
    @got = 0
  end

  def connection_completed
    @state[:connected] += 1
    @state[:go].call if @state[:connected] == CLIENTS
  end

  def ping
    @state[:issued] += 1
    send_data(MSG)
  end

  def receive_data(data)
    @got += data.bytesize
    return if @got < MSG.bytesize
    raise "echo overran: #{@got} bytes for one #{MSG.bytesize}-byte message" if @got > MSG.bytesize

    @got = 0
    st = @state
    st[:done] += 1
    if st[:done] == N
      st[:t1] = Bench.now
      st[:cpu1] = Bench.cpu
      EM.stop
    elsif st[:issued] < N
      ping
    end
  end

  def unbind
    raise "client lost its connection after #{@state[:done]} round trips" unless @state[:t1]
  end
end

state = { connected: 0, issued: 0, done: 0, t0: nil, t1: nil }
clients = []
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "echo ping-pong")
  port = Bench.server_port(EM.start_server(Bench::HOST, 0, EchoServer))
  state[:go] = lambda do
    state[:t0] = Bench.now
    state[:cpu0] = Bench.cpu
    clients.each { |c| c.ping if state[:issued] < N }
  end
  CLIENTS.times { clients << EM.connect(Bench::HOST, port, PingClient, state) }
end
raise "#{state[:done]} of #{N} round trips" unless state[:done] == N

elapsed = state[:t1] - state[:t0]
Bench.report({ rt_per_s: { value: N / elapsed, unit: "rt/s", better: "higher", label: "round trips" } },
             { n: N, clients: CLIENTS, msg_bytes: MSG.bytesize, elapsed_s: elapsed,
               **Bench.cpu_spent(state[:cpu0], state[:cpu1]) })
