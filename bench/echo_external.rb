# frozen_string_literal: true
# TCP echo server under load from other processes: the EM echo server runs here
# (the implementation under test); the load comes from LOAD_PROCS separate plain
# Ruby processes (bench/lib/echo_load.rb, no EM), 50 connections in all, each
# keeping one 64-byte message in flight. n round trips in total, timed from the
# moment every load process is connected and told to start until the last one
# reports done. Round trips/s. The load is the same for both implementations.
# cpu_user_s/cpu_sys_s in the result's info are this (server) process's only.
require_relative "lib/loader"
require_relative "lib/net"
require "rbconfig"

N = Bench.size(200_000, 5_000)
CONNS = 50
LOAD_PROCS = Integer(ENV.fetch("BENCH_ECHO_LOAD_PROCS", "2"))
MSG_BYTES = 64
LOADER = File.join(__dir__, "lib", "echo_load.rb")

class EchoServer < EM::Connection
  def receive_data(data) = send_data(data)
end

# Runs the load processes on a plain Ruby thread (blocking pipe reads), so the
# reactor thread does nothing but serve; stops the reactor when they are done.
def drive_load(port, result)
  shares = Array.new(LOAD_PROCS) { |i| N / LOAD_PROCS + (i < N % LOAD_PROCS ? 1 : 0) }
  conns = Array.new(LOAD_PROCS) { |i| CONNS / LOAD_PROCS + (i < CONNS % LOAD_PROCS ? 1 : 0) }
  procs = Array.new(LOAD_PROCS) do |i|
    cmd = [RbConfig.ruby, LOADER, port.to_s, conns[i].to_s, shares[i].to_s, MSG_BYTES.to_s]
    r_out, w_out = IO.pipe
    r_in, w_in = IO.pipe
    env = { "ECHO_LOAD_TIMEOUT" => (Bench::TIMEOUT * 0.6).to_s }
    pid = Process.spawn(env, *cmd, in: r_in, out: w_out)
    r_in.close
    w_out.close
    { pid: pid, out: r_out, in: w_in }
  end
  procs.each { |p| raise "load process not ready" unless p[:out].gets&.chomp == "ready" }
  result[:t0] = Bench.now
  result[:cpu0] = Bench.cpu
  procs.each { |p| p[:in].puts("go"); p[:in].flush }
  procs.each do |p|
    line = p[:out].gets.to_s
    raise "load process failed: #{line.inspect}" unless line.start_with?("done ")

    result[:done] += Integer(line.split[1])
    result[:load_elapsed] << Float(line.split[2])
  end
  result[:t1] = Bench.now
  result[:cpu1] = Bench.cpu
  procs.each { |p| Process.wait(p[:pid]) }
rescue Exception => e # rubocop:disable Lint/RescueException -- reported on the reactor
  result[:error] = e
  procs&.each { |p| Process.kill(:KILL, p[:pid]) rescue nil }
ensure
  EM.next_tick { EM.stop }
end

result = { done: 0, load_elapsed: [], t0: nil, t1: nil, error: nil }
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "echo under external load")
  port = Bench.server_port(EM.start_server(Bench::HOST, 0, EchoServer))
  Thread.new { drive_load(port, result) }
end
raise result[:error] if result[:error]
raise "#{result[:done]} of #{N} round trips" unless result[:done] == N

elapsed = result[:t1] - result[:t0]
Bench.report({ rt_per_s: { value: N / elapsed, unit: "rt/s", better: "higher", label: "round trips" } },
             { n: N, connections: CONNS, load_processes: LOAD_PROCS, msg_bytes: MSG_BYTES,
               elapsed_s: elapsed, load_elapsed_s: result[:load_elapsed],
               **Bench.cpu_spent(result[:cpu0], result[:cpu1]) })
