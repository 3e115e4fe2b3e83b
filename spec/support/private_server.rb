# frozen_string_literal: true
# The common part of the private servers the integration specs start from
# Debian packages (spec/support/rabbitmq_server.rb, spec/support/mariadb_server.rb):
# a temporary directory for everything the server writes, free ports on
# 127.0.0.1, processes spawned in their own process group, readiness polled
# against a deadline, and a stop by pid (TERM, then KILL of the group the spec
# created) that only the process which started the server performs. A server
# that cannot start raises with its log: a spec never skips silently because
# bin/setup did not install a package.
require "socket"
require "tmpdir"
require "fileutils"
require "etc"

class PrivateServer
  HOST = "127.0.0.1"

  attr_reader :dir

  # The first executable of `names` in PATH or the sbin directories, or nil.
  def self.find_executable(*names)
    dirs = ENV["PATH"].to_s.split(File::PATH_SEPARATOR) | %w[/usr/sbin /usr/bin /usr/lib/rabbitmq/bin]
    names.each do |name|
      dirs.each do |d|
        path = File.join(d, name)
        return path if File.file?(path) && File.executable?(path)
      end
    end
    nil
  end

  # Raises with the apt-get line when the Debian package is not installed.
  def self.require_package!(package, *names)
    find_executable(*names) ||
      raise("#{package} is not installed: #{names.join(' / ')} not found " \
            "(bin/setup installs it; by hand: apt-get install -y #{package})")
  end

  def self.free_port
    s = TCPServer.new(HOST, 0)
    s.addr[1]
  ensure
    s&.close
  end

  def self.now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Servers started by this process, stopped at exit if an after(:context)
  # did not run (an interrupted run must not leave a broker behind).
  @started = []
  class << self
    attr_reader :started
  end
  at_exit { PrivateServer.started.dup.each(&:stop!) }

  def initialize(prefix)
    @prefix = prefix
    @pids = [] # [pid, what], in start order; stopped in reverse
    @owner = nil
  end

  def running? = !@pids.empty? && @owner == Process.pid

  def free_port = self.class.free_port
  def now = self.class.now
  def root? = Process.uid.zero?

  # Starts the server, retrying (new ports, new directory) up to `attempts`
  # times; raises with the last log when it never became ready.
  def start!(attempts: 2)
    return self if running?

    last = nil
    attempts.times do
      @dir = Dir.mktmpdir(@prefix)
      @owner = Process.pid
      PrivateServer.started << self
      begin
        return self if boot
      rescue StandardError => e
        last = "#{e.class}: #{e.message}\n"
      end
      last = "#{last}#{logs}"
      stop!
    end
    raise "#{self.class.name} did not start after #{attempts} attempts; last log:\n#{last}"
  end

  def stop!
    return unless @owner == Process.pid

    @pids.reverse_each { |pid, what| stop_pid(pid, what) }
    @pids.clear
    FileUtils.rm_rf(@dir) if @dir
    @dir = nil
    @owner = nil
    PrivateServer.started.delete(self)
  end

  private

  # Subclasses: spawn the processes (with #spawn_logged) and wait until ready;
  # return true when ready, false (or raise) when not.
  def boot = raise(NotImplementedError)

  # Subclasses: the text of their log files, for the failure message.
  def logs = ""

  def path(*parts) = File.join(@dir, *parts)

  def read_log(file)
    f = path(file)
    return "" unless File.exist?(f)
    text = File.binread(f)
    "---- #{file} (last 4 KiB) ----\n#{text.bytesize > 4096 ? text[-4096..] : text}\n"
  end

  # Spawns `cmd` in its own process group with `env`, stdout and stderr to
  # `log` in the server's directory; remembers its pid to stop it.
  def spawn_logged(env, *cmd, log:, what: File.basename(cmd.first))
    pid = Process.spawn(env, *cmd, in: File::NULL, out: [path(log), "a"], err: [:child, :out],
                        pgroup: true, chdir: @dir)
    @pids << [pid, what]
    pid
  end

  def exited?(pid)
    !Process.waitpid(pid, Process::WNOHANG).nil?
  rescue Errno::ECHILD
    true
  end

  # Polls the block every 50 ms until it returns true; false if `pid` exits
  # or the deadline passes.
  def wait_until(pid, timeout)
    deadline = now + timeout
    while now < deadline
      return false if exited?(pid)
      return true if yield
      sleep 0.05
    end
    false
  end

  # Waits for `pid` to exit; its Process::Status, or nil after `timeout` s.
  def wait_exit(pid, timeout)
    deadline = now + timeout
    while now < deadline
      _, status = Process.waitpid2(pid, Process::WNOHANG)
      return status if status
      sleep 0.02
    end
    nil
  end

  # TERM to the process we spawned; after `timeout` s, KILL to its process
  # group (ours: spawned with pgroup: true). Always reaps it.
  def stop_pid(pid, what, timeout: 15)
    Process.kill(:TERM, pid)
    deadline = now + timeout
    until Process.waitpid(pid, Process::WNOHANG)
      if now > deadline
        warn "#{self.class.name}: #{what} (pid #{pid}) ignored TERM for #{timeout}s; killing its process group"
        begin
          Process.kill(:KILL, -pid)
        rescue Errno::ESRCH, Errno::EPERM
          Process.kill(:KILL, pid)
        end
        Process.waitpid(pid)
        break
      end
      sleep 0.02
    end
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end
end
