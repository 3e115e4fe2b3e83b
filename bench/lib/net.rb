# frozen_string_literal: true
# Helpers shared by the connection benchmarks (loaded after bench/lib/loader.rb).
require "socket"

module Bench
  HOST = "127.0.0.1"

  module_function

  # The port an EM server (signature from EM.start_server) is bound to.
  def server_port(sig) = Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first

  # CPU seconds this process has used so far, [user, system] (Process.times:
  # clock-tick resolution). Benchmarks report the difference over their timed part.
  def cpu = Process.times.then { |t| [t.utime, t.stime] }

  # {cpu_user_s:, cpu_sys_s:} between two Bench.cpu readings.
  def cpu_spent(from, to) = { cpu_user_s: (to[0] - from[0]).round(3), cpu_sys_s: (to[1] - from[1]).round(3) }

  # This process's resident set size now (VmRSS), in kB.
  def rss_kb = File.read("/proc/self/status")[/^VmRSS:\s+(\d+)\s+kB/, 1].to_i

  # Raises the soft fd limit to at least `want` (through EM, as an application
  # would, then Process.setrlimit if EM left it lower). Returns the limit
  # reached, which is below `want` only when the hard limit is.
  def raise_fd_limit(want)
    soft, hard = Process.getrlimit(:NOFILE)
    return soft if soft >= want

    target = [want, hard].min
    EM.set_descriptor_table_size(target)
    soft, hard = Process.getrlimit(:NOFILE)
    Process.setrlimit(:NOFILE, target, hard) if soft < target
    Process.getrlimit(:NOFILE).first
  end

  # Stops the reactor (and fails the benchmark) if it is still running after
  # `secs`: a benchmark that stalls reports that instead of waiting for the
  # watchdog's exit!.
  def em_deadline(secs, what)
    EM.add_timer(secs) do
      $stderr.puts "bench: #{what} not done within #{secs}s"
      abort!(4)
    end
  end
end
