# frozen_string_literal: true
# A throwaway redis-server (Debian package redis-server) for the em-redis
# specs: started on first use on 127.0.0.1 with a free port, no persistence
# (`--save '' --appendonly no`), its files in a temporary directory, and
# stopped after the suite (only by the process that started it: a forked
# child's at_exit must not stop it).
require "socket"
require "tmpdir"
require "fileutils"

module RedisServer
  PACKAGE = "redis-server"
  HOST = "127.0.0.1"

  class << self
    attr_reader :pid

    def executable
      @executable ||= ENV["PATH"].to_s.split(File::PATH_SEPARATOR).push("/usr/bin", "/usr/sbin")
                                 .map { |d| File.join(d, "redis-server") }.find { |f| File.executable?(f) } || false
    end

    def available? = !!executable

    # The port of the running server; starts it on first use.
    def port
      start! unless running?
      @port
    end

    def running? = !@pid.nil? && @owner == Process.pid

    def start!(attempts: 3, timeout: 10)
      raise "#{PACKAGE} is not installed (apt-get install -y #{PACKAGE})" unless available?
      return if running?

      last = nil
      attempts.times do
        @dir = Dir.mktmpdir("em_rust-redis")
        @port = free_port
        log = File.join(@dir, "redis.log")
        @pid = Process.spawn(executable, "--bind", HOST, "--port", @port.to_s, "--save", "", "--appendonly", "no",
                             "--dir", @dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
                             in: File::NULL, out: log, err: log, pgroup: true)
        @owner = Process.pid
        return if wait_ready(timeout)

        last = File.exist?(log) ? File.read(log) : "(no log)"
        stop!
      end
      raise "redis-server did not start after #{attempts} attempts; last log:\n#{last}"
    end

    def stop!(timeout: 5)
      return unless @pid && @owner == Process.pid

      begin
        Process.kill(:TERM, @pid)
        deadline = now + timeout
        until Process.waitpid(@pid, Process::WNOHANG)
          if now > deadline
            Process.kill(:KILL, @pid)
            Process.waitpid(@pid)
            break
          end
          sleep 0.02
        end
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      end
      @pid = nil
      FileUtils.rm_rf(@dir) if @dir
      @dir = nil
    end

    # A client command over a plain socket (setup and checks from outside the reactor).
    def command(*args, timeout: 5)
      TCPSocket.open(HOST, port) do |s|
        s.write("*#{args.size}\r\n" + args.map { |a| a = a.to_s; "$#{a.bytesize}\r\n#{a}\r\n" }.join)
        raise "redis did not answer within #{timeout}s" unless IO.select([s], nil, nil, timeout)
        s.readpartial(65_536)
      end
    end

    private

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def free_port
      s = TCPServer.new(HOST, 0)
      s.addr[1]
    ensure
      s&.close
    end

    # PING until PONG, or until the process exits or the deadline passes.
    def wait_ready(timeout)
      deadline = now + timeout
      while now < deadline
        return false if Process.waitpid(@pid, Process::WNOHANG)
        begin
          TCPSocket.open(HOST, @port) do |s|
            s.write("PING\r\n")
            return true if IO.select([s], nil, nil, 1) && s.readpartial(64).start_with?("+PONG")
          end
        rescue Errno::ECONNREFUSED, Errno::ECONNRESET, EOFError
          nil
        end
        sleep 0.02
      end
      false
    rescue Errno::ECHILD
      false
    end
  end
end

RSpec.configure { |config| config.after(:suite) { RedisServer.stop! } }
at_exit { RedisServer.stop! }
