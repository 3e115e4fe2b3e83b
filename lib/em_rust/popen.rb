# frozen_string_literal: true
# Child processes on a socketpair: EM.popen, the child's pid and exit status, and
# reaping the child before its connection's unbind.
require "shellwords"

module EventMachine
  @popen_pids = {}     # signature => child pid
  @popen_statuses = {} # signature => Process::Status, once reaped

  class << self
    # Runs `cmd` (a String, split like a shell does, or an Array of arguments) with
    # its stdin and stdout connected to a new connection.
    def popen(cmd, handler = nil, *args)
      argv = cmd.is_a?(Array) ? cmd.flatten.map(&:to_s) : Shellwords.split(cmd.to_s)
      raise RuntimeError, "no popen: empty command" if argv.empty?
      klass = klass_from_handler(Connection, handler, *args)
      sig, pid = machine!("evma_popen").popen(argv)
      @popen_pids[sig] = pid
      register(build_connection(klass, sig, args)) { |conn| yield conn if block_given? }
    end

    def get_subprocess_pid(sig) = @popen_pids[sig]

    def get_subprocess_status(sig) = @popen_statuses[sig]

    private

    # Before a popen connection's unbind: collect the child's exit status (EM's
    # get_status works inside unbind). A child still running after its stdio
    # closed gets SIGTERM, then SIGKILL.
    def reap_child(sig)
      pid = @popen_pids[sig] or return
      status = wait_child(pid, 0.2) ||
               (signal_child(pid, "TERM") && wait_child(pid, 0.5)) ||
               (signal_child(pid, "KILL") && wait_child(pid, 2))
      @popen_statuses[sig] = status
    end

    def wait_child(pid, seconds)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
      loop do
        _, status = Process.wait2(pid, Process::WNOHANG)
        return status if status
        return nil if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        sleep 0.005
      end
    rescue Errno::ECHILD
      nil
    end

    def signal_child(pid, signal)
      Process.kill(signal, pid)
      true
    rescue Errno::ESRCH
      true
    end
  end
end
