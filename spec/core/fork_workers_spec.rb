# frozen_string_literal: true
require "spec_helper"
require "socket"
require "tmpdir"
require "rbconfig"

RSpec.describe "EM.start_server(..., reuse_port: true)", em_rust_only: "EventMachine has no reuse_port option" do
  it "lets two listeners share one port, and without it the second bind fails" do
    shared = failed = nil
    run_em do
      first = EM.start_server("127.0.0.1", 0, Module.new, reuse_port: true)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(first)).first
      shared = EM.start_server("127.0.0.1", port, Module.new, reuse_port: true)
      plain = EM.start_server("127.0.0.1", 0, Module.new)
      plain_port = Socket.unpack_sockaddr_in(EM.get_sockname(plain)).first
      begin
        EM.start_server("127.0.0.1", plain_port, Module.new)
      rescue RuntimeError => e
        failed = e
      end
      EM.stop
    end
    expect(shared).to be_a(Integer)
    expect(failed).to be_a(RuntimeError)
  end

  it "still hands other keywords to the handler's initialize as a Hash" do
    got = nil
    handler = Class.new(EM::Connection) do
      define_method(:initialize) { |opts| got = opts }
    end
    run_em do
      sig = EM.start_server("127.0.0.1", 0, handler, app: :x, reuse_port: true)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first
      EM.connect("127.0.0.1", port)
      EM.add_periodic_timer(0.01) { EM.stop if got }
    end
    expect(got).to eq(app: :x)
  end
end

RSpec.describe "EM.fork_workers", em_rust_only: "EventMachine has no fork_workers" do
  # The supervisor runs in a process of its own: fork_workers traps TERM and forks,
  # which this RSpec process must not do. Each worker answers a connection with its pid.
  def supervisor_script = <<~RUBY
    require "em_rust"
    class PidServer < EM::Connection
      def post_init
        send_data("\#{Process.pid}\\n")
        close_connection_after_writing
      end
    end
    $stdout.sync = true
    port = Integer(ARGV[0])
    EM.fork_workers(2, restart_delay: 0.05) do
      EM.run { EM.start_server("127.0.0.1", port, PidServer, reuse_port: true) }
    end
    puts "supervisor done"
  RUBY

  def eventually(limit, what)
    deadline = now + bound(limit)
    until (value = yield)
      raise "gave up waiting for #{what}" if now > deadline
      sleep 0.02
    end
    value
  end

  def worker_pid(port)
    TCPSocket.open("127.0.0.1", port) { |s| Integer(s.read.strip) }
  rescue Errno::ECONNREFUSED, Errno::ECONNRESET, ArgumentError
    nil
  end

  def alive?(pid)
    Process.kill(0, pid)
    !File.read("/proc/#{pid}/stat").split(") ").last.start_with?("Z")
  rescue Errno::ESRCH, Errno::ENOENT
    false
  end

  def children_of(pid)
    Dir.glob("/proc/[0-9]*/stat").filter_map do |f|
      fields = File.read(f).split(") ").last.split
      Integer(File.basename(File.dirname(f))) if Integer(fields[1]) == pid
    rescue Errno::ENOENT, Errno::ESRCH
      nil
    end
  end

  it "serves one port from 2 workers, restarts a killed one, and stops them all on SIGTERM", timeout: 30 do
    Dir.mktmpdir do |dir|
      script = File.join(dir, "supervisor.rb")
      File.write(script, supervisor_script)
      port = closed_port
      out_r, out_w = IO.pipe
      lib = File.expand_path("../../lib", __dir__)
      # Its own process group: a failed example kills the workers with it.
      supervisor = Process.spawn(RbConfig.ruby, "-I", lib, script, port.to_s, out: out_w, pgroup: true)
      out_w.close
      begin
        workers = eventually(10, "2 workers") { (w = children_of(supervisor)).size == 2 && w }
        seen = eventually(10, "both workers answering") do
          pids = 40.times.filter_map { worker_pid(port) }.uniq
          pids.sort == workers.sort && pids
        end
        expect(seen.sort).to eq(workers.sort)

        victim = workers.first
        Process.kill(:KILL, victim)
        replaced = eventually(10, "a replacement worker") do
          now_workers = children_of(supervisor)
          now_workers.size == 2 && !now_workers.include?(victim) && now_workers
        end
        expect(alive?(victim)).to be(false) # reaped: no zombie left behind
        eventually(10, "the replacement answering") { 40.times.filter_map { worker_pid(port) }.uniq.sort == replaced.sort }

        Process.kill(:TERM, supervisor)
        _, status = eventually(10, "the supervisor to exit") { Process.wait2(supervisor, Process::WNOHANG) }
        supervisor = nil
        expect(status.success?).to be(true)
        expect(out_r.read).to include("supervisor done")
        expect(replaced.select { |pid| alive?(pid) }).to eq([])
      ensure
        if supervisor
          Process.kill(:KILL, -supervisor) rescue nil # rubocop:disable Style/RescueModifier
          Process.wait(supervisor) rescue nil # rubocop:disable Style/RescueModifier
        end
        out_r.close
      end
    end
  end

  it "refuses to run without a block, with no workers, or inside EM.run" do
    expect { EM.fork_workers(2) }.to raise_error(ArgumentError)
    expect { EM.fork_workers(0) {} }.to raise_error(ArgumentError)
    error = nil
    run_em do
      EM.fork_workers(1) {}
    rescue RuntimeError => e
      error = e
    ensure
      EM.stop
    end
    expect(error.message).to include("outside EM.run")
  end
end
