# frozen_string_literal: true
# em_rust only (EM has no fork_workers): TCP echo under external load, served by 1
# reactor process and by 2 (EM.fork_workers + start_server(reuse_port: true)), in
# alternating rounds. The load is bench/lib/echo_load.rb's (plain blocking Ruby,
# LOAD_PROCS processes, 50 connections in all, one 64-byte message in flight each),
# the same as bench/echo_external.rb. Prints, per worker count, the median round
# trips/s and where the CPU went (the workers' user+sys seconds from /proc, the
# load processes' from their rusage): on a 2-core box the load competes with the
# workers for the cores. Not part of bench/run.rb (it compares with EM).
#   ruby bench/echo_workers.rb     BENCH_ROUNDS=3  BENCH_QUICK=1  BENCH_ECHO_LOAD_PROCS=2
require "rbconfig"
require "socket"
require "etc"

ROOT = File.expand_path("..", __dir__)
$LOAD_PATH.unshift File.join(ROOT, "lib")
require "em_rust"

QUICK = ENV["BENCH_QUICK"] == "1"
ROUNDS = Integer(ENV.fetch("BENCH_ROUNDS", QUICK ? "1" : "3"))
N = QUICK ? 5_000 : 200_000
CONNS = 50
LOAD_PROCS = Integer(ENV.fetch("BENCH_ECHO_LOAD_PROCS", "2"))
LOADER = File.join(__dir__, "lib", "echo_load.rb")
TICKS = Etc.sysconf(Etc::SC_CLK_TCK)
# A trial that takes longer has hung: it stops what it started and the run ends.
TRIAL_LIMIT = Float(ENV.fetch("BENCH_TIMEOUT", QUICK ? "30" : "120"))

class EchoServer < EM::Connection
  def receive_data(data) = send_data(data)
end

def free_port
  s = TCPServer.new("127.0.0.1", 0)
  s.addr[1]
ensure
  s&.close
end

def cpu_of(pid)
  fields = File.read("/proc/#{pid}/stat").split(") ").last.split
  (Integer(fields[11]) + Integer(fields[12])).to_f / TICKS
rescue Errno::ENOENT
  0.0
end

def children_of(pid)
  Dir.glob("/proc/[0-9]*/stat").filter_map do |f|
    Integer(File.basename(File.dirname(f))) if Integer(File.read(f).split(") ").last.split[1]) == pid
  rescue Errno::ENOENT, ArgumentError
    nil
  end
end

def wait_for(what, limit = 10)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + limit
  until (v = yield)
    raise "bench: no #{what} within #{limit}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    sleep 0.01
  end
  v
end

def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

# A line from a load process, or an error once the trial's deadline has passed.
def line_from(io, deadline)
  raise "bench: a load process said nothing within #{TRIAL_LIMIT}s" unless io.wait_readable([deadline - now, 0].max)

  io.gets
end

# One trial: a supervisor with `workers` reactors on a fresh port, the load, then
# SIGTERM; everything it started is stopped however it ends.
def trial(workers)
  deadline = now + TRIAL_LIMIT
  loads = []
  port = free_port
  supervisor = fork do
    EM.fork_workers(workers) { EM.run { EM.start_server("127.0.0.1", port, EchoServer, reuse_port: true) } }
    exit!(0)
  end
  pids = wait_for("#{workers} workers") { (c = children_of(supervisor)).size == workers && c }
  wait_for("the port") { TCPSocket.new("127.0.0.1", port).close || true rescue nil } # rubocop:disable Style/RescueModifier
  LOAD_PROCS.times do |i|
    conns = CONNS / LOAD_PROCS + (i < CONNS % LOAD_PROCS ? 1 : 0)
    share = N / LOAD_PROCS + (i < N % LOAD_PROCS ? 1 : 0)
    r_out, w_out = IO.pipe
    r_in, w_in = IO.pipe
    pid = Process.spawn(RbConfig.ruby, LOADER, port.to_s, conns.to_s, share.to_s, "64", in: r_in, out: w_out)
    r_in.close
    w_out.close
    loads << { pid: pid, out: r_out, in: w_in }
  end
  loads.each { |l| raise "load process not ready" unless line_from(l[:out], deadline)&.chomp == "ready" }
  worker_cpu0 = pids.sum { |p| cpu_of(p) }
  load_cpu0 = loads.sum { |l| cpu_of(l[:pid]) }
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  loads.each { |l| l[:in].puts("go") }
  done = loads.sum { |l| Integer(line_from(l[:out], deadline).to_s.split[1] || raise("load process failed")) }
  elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
  worker_cpu = pids.sum { |p| cpu_of(p) } - worker_cpu0
  load_cpu = loads.sum { |l| cpu_of(l[:pid]) } - load_cpu0 # read before they exit and vanish
  loads.each { |l| Process.wait(l.delete(:pid)) }
  raise "#{done} of #{N} round trips" unless done == N

  { rt_per_s: N / elapsed, worker_cpu_s: worker_cpu, load_cpu_s: load_cpu, elapsed_s: elapsed }
ensure
  loads.each do |l|
    next unless l[:pid]

    Process.kill(:KILL, l[:pid]) rescue nil # rubocop:disable Style/RescueModifier
    Process.wait(l[:pid]) rescue nil # rubocop:disable Style/RescueModifier
  end
  if supervisor
    Process.kill(:TERM, supervisor) rescue nil # rubocop:disable Style/RescueModifier
    Process.wait(supervisor) rescue nil # rubocop:disable Style/RescueModifier
  end
end

def median(a) = a.sort[a.size / 2]

results = { 1 => [], 2 => [] }
ROUNDS.times do |round|
  (round.even? ? [1, 2] : [2, 1]).each do |w|
    r = trial(w)
    results[w] << r
    $stderr.puts format("  round %d/%d  %d worker(s)  %9.0f rt/s  workers %.2f s CPU, load %.2f s CPU in %.2f s",
                        round + 1, ROUNDS, w, r[:rt_per_s], r[:worker_cpu_s], r[:load_cpu_s], r[:elapsed_s])
  end
end
load = File.read("/proc/loadavg").split.first(3).join(" ")
puts "echo_workers: #{N} round trips, #{CONNS} connections from #{LOAD_PROCS} load processes, " \
     "#{Etc.nprocessors} CPUs, load #{load}"
results.each do |w, rs|
  m = median(rs.map { |r| r[:rt_per_s] })
  puts format("  %d worker(s): %9.0f rt/s (median of %d); CPU per round: workers %.2f s, load %.2f s",
              w, m, rs.size, median(rs.map { |r| r[:worker_cpu_s] }), median(rs.map { |r| r[:load_cpu_s] }))
end
puts format("  2 workers / 1 worker: %.2fx", median(results[2].map { |r| r[:rt_per_s] }) / median(results[1].map { |r| r[:rt_per_s] }))
