# frozen_string_literal: true
# Helpers for every spec: a monotonic clock, timing bounds that stretch under
# GC.stress, the reactor run with a watchdog (run_em), a closed port, and child
# Ruby processes (for anything that kills, forks, changes
# process-wide settings or could hang) that load the implementation under test
# and are always waited for with a deadline.
require "rbconfig"
require "socket"

module CoreHelpers
  LIB_DIR = File.expand_path("../../lib", __dir__)

  module_function

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Timing bounds are written for a loaded 2-core CI box; under GC.stress every
  # Ruby step is far slower, so they stretch (a missing wakeup still fails).
  def bound(seconds) = ENV["GC_STRESS"] ? seconds * 20 : seconds

  # Runs a reactor, with the block as its run block, that must stop by itself
  # (EM.stop) within `limit` seconds, stretched by `bound` under GC.stress. A
  # watchdog timer stops it otherwise, and then this raises naming `what`: a spec
  # that never stops fails, it does not hang.
  def run_em(limit = 5, what: "EM.stop", &blk)
    limit = bound(limit)
    timed_out = false
    EM.run do
      EM.add_timer(limit) do
        timed_out = true
        EM.stop
      end
      blk.call
    end
    raise "watchdog: no #{what} within #{limit}s (the reactor did not stop by itself)" if timed_out
  end

  # A TCP port on 127.0.0.1 with nothing listening on it (bound, then released):
  # a connect to it is refused, and a server may bind it.
  def closed_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def median(values)
    s = values.sort
    s[s.size / 2]
  end

  # Runs `blk` on the reactor `count` times and returns the median of what it
  # returned (each call gets a fresh EM.run).
  def median_of(count)
    median(Array.new(count) { yield })
  end

  # Argument vector for a child ruby that has loaded the implementation under
  # test (em_rust from this checkout, or the real eventmachine) and runs `code`.
  def ruby_argv(code, impl: EM_IMPL)
    if impl == "em_rust"
      [RbConfig.ruby, "-I", LIB_DIR, "-r", "em_rust", "-e", code]
    else
      [RbConfig.ruby, "-r", "eventmachine", "-e", code]
    end
  end

  # A child process whose stdout+stderr we collect. It runs in its own process
  # group so that a forked grandchild can be ended with it.
  class Child
    attr_reader :pid, :output, :status

    @live = []
    class << self
      attr_reader :live

      # Ends every child a finished example left behind (by its own pgid).
      def reap_all
        @live.dup.each(&:kill!)
      end
    end

    def initialize(argv, env: {})
      @rd, wr = IO.pipe
      @pid = Process.spawn(env, *argv, in: File::NULL, out: wr, err: wr, pgroup: true)
      wr.close
      @output = +""
      @status = nil
      @eof = false
      self.class.live << self
    end

    # Waits until the output matches `pattern`; returns the MatchData.
    def wait_for(pattern, timeout:)
      deadline = CoreHelpers.now + timeout
      loop do
        m = @output.match(pattern)
        return m if m
        left = deadline - CoreHelpers.now
        if left <= 0 || @eof
          raise "child #{@pid}: no #{pattern.inspect} within #{timeout}s (eof=#{@eof}); output:\n#{@output}"
        end
        read_some(left)
      end
    end

    def signal(sig) = Process.kill(sig, @pid)

    # Waits for the child to exit (and its output to end); kills it and raises
    # if that takes longer than `timeout`. Returns the Process::Status.
    def finish(timeout:)
      deadline = CoreHelpers.now + timeout
      until @status
        left = deadline - CoreHelpers.now
        if left <= 0
          kill!
          raise "child #{@pid} did not exit within #{timeout}s; output:\n#{@output}"
        end
        read_some([left, 0.05].min)
        _, st = Process.waitpid2(@pid, Process::WNOHANG)
        @status = st if st
        sleep(0.01) if @eof && !@status
      end
      read_some(0) until @eof || !IO.select([@rd], nil, nil, 0.05)
      self.class.live.delete(self)
      @rd.close unless @rd.closed?
      @status
    end

    # Ends the child and anything it forked (its process group, which we
    # created), then reaps it.
    def kill!
      begin
        Process.kill(:KILL, -@pid)
      rescue Errno::ESRCH, Errno::EPERM
        nil
      end
      unless @status
        begin
          _, @status = Process.waitpid2(@pid)
        rescue Errno::ECHILD
          nil
        end
      end
      @rd.close unless @rd.closed?
      self.class.live.delete(self)
    end

    private

    # Reads what is available within `timeout`; false at end of output.
    def read_some(timeout)
      return false if @eof
      return true unless IO.select([@rd], nil, nil, timeout)
      @output << @rd.read_nonblock(65_536)
      true
    rescue IO::WaitReadable
      true
    rescue EOFError, IOError
      @eof = true
      false
    end
  end

  def spawn_ruby(code, env: {})
    Child.new(ruby_argv(code), env: env)
  end

  Result = Struct.new(:output, :status, :elapsed) do
    def success? = status.success?
    def exitstatus = status.exitstatus
  end

  # Runs `code` in a child ruby with the implementation loaded; returns its
  # output, status and wall time. Raises (after killing it) past `timeout`.
  def run_ruby(code, timeout: 8, env: {})
    run_command(ruby_argv(code), timeout: timeout, env: env)
  end

  # The same for any argument vector.
  def run_command(argv, timeout: 8, env: {})
    t0 = now
    child = Child.new(argv, env: env)
    status = child.finish(timeout: timeout)
    Result.new(child.output, status, now - t0)
  ensure
    child&.kill!
  end
end

RSpec.configure do |config|
  config.include CoreHelpers
  config.after(:each) { CoreHelpers::Child.reap_all }
end
