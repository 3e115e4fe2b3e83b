# frozen_string_literal: true
# A reqlite (the npm package reqlite@2.3.0, a RethinkDB server in JavaScript)
# process on 127.0.0.1 for the RethinkDB specs: one shared instance, started on
# first use and stopped when the suite ends, plus private ones for specs that
# kill their server (spec/support/reqlite_cluster.rb starts several). `npm
# install reqlite@2.3.0` in the repository root provides it.
require "socket"
require "tmpdir"
require "rbconfig"

class ReqliteServer
  ROOT = File.expand_path("../..", __dir__)
  ENTRY = File.join(ROOT, "node_modules", "reqlite", "lib", "node.js")
  PRELOAD = File.join(__dir__, "reqlite_loopback.js")
  HOST = "127.0.0.1"
  READY = /Server ready/
  START_TIMEOUT = 15

  class << self
    # Why reqlite cannot run here, or nil.
    def unavailable_reason
      return "reqlite is not installed (run `npm install reqlite@2.3.0` in #{ROOT})" unless File.exist?(ENTRY)
      return "node is not on the PATH" unless node
      nil
    end

    def node
      @node ||= ENV["PATH"].to_s.split(File::PATH_SEPARATOR).map { |dir| File.join(dir, "node") }
                           .find { |path| File.executable?(path) }
    end

    # The suite's shared server.
    def shared
      @shared ||= new.tap(&:start)
    end

    def stop_shared
      @shared&.stop
      @shared = nil
    end
  end

  attr_reader :port

  # On `port` (e.g. to bring a stopped server back where it was), else a free one.
  def start(port: nil)
    3.times do
      @port = port || free_port
      @log = File.join(Dir.tmpdir, "reqlite-#{Process.pid}-#{@port}.log")
      @pid = Process.spawn(self.class.node, "-r", PRELOAD, ENTRY, "--driver-port", @port.to_s,
                           in: File::NULL, out: @log, err: [:child, :out], pgroup: true)
      return self if ready?
      stop
    end
    raise "reqlite did not start; its output:\n#{output}"
  end

  def stop
    return unless @pid
    begin
      Process.kill(:KILL, -@pid)
    rescue Errno::ESRCH, Errno::EPERM
      nil
    end
    begin
      Process.wait(@pid)
    rescue Errno::ECHILD
      nil
    end
    @pid = nil
    File.delete(@log) if @log && File.exist?(@log)
  end

  def running?
    !@pid.nil?
  end

  def output
    @log && File.exist?(@log) ? File.read(@log) : ""
  end

  private

  def free_port
    server = TCPServer.new(HOST, 0)
    server.addr[1]
  ensure
    server&.close
  end

  def ready?
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + START_TIMEOUT
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      return false if Process.waitpid(@pid, Process::WNOHANG)
      return true if output.match?(READY) && accepting?
      sleep 0.05
    end
    false
  end

  def accepting?
    TCPSocket.new(HOST, @port).close
    true
  rescue SystemCallError
    false
  end
end

if defined?(RSpec)
  RSpec.configure do |config|
    config.after(:suite) { ReqliteServer.stop_shared }
  end
end
