# frozen_string_literal: true
require "spec_helper"

# Real EM watches pids only with kqueue; on Linux EM.watch_process raises
# EM::Unsupported "no pid watching support on this system". em_rust watches
# them with pidfd (Linux 5.3+), which reports exits (not forks).
RSpec.describe "EM.watch_process" do
  no_pidfd = "real EM on Linux raises EM::Unsupported 'no pid watching support on this system' (kqueue only)"

  def spawn_sleeper(seconds)
    pid = Process.spawn("sleep", seconds.to_s)
    (@sleepers ||= []) << pid
    pid
  end

  after do
    (@sleepers || []).each do |pid|
      Process.kill(:KILL, pid)
    rescue Errno::ESRCH
      nil
    ensure
      begin
        Process.wait(pid)
      rescue Errno::ECHILD
        nil
      end
    end
  end

  it "the EM::ProcessWatch handler maps 'exit' and 'fork' notifications to process_exited and process_forked, ignoring others" do
    log = []
    klass = Class.new(EM::ProcessWatch) do
      define_method(:process_exited) { log << :exited }
      define_method(:process_forked) { log << :forked }
    end
    w = klass.new(123)
    w.instance_variable_set(:@pid, 456)
    %w[fork exit other].each { |e| w.receive_data(e) }
    expect(log).to eq(%i[forked exited])
    expect(w.pid).to eq(456)
  end

  it "returns an EM::ProcessWatch; process_exited then unbind follow the process's exit", em_rust_only: no_pidfd do
    log = []
    pid = spawn_sleeper(0.3)
    handler = Class.new(EM::ProcessWatch) do
      define_method(:initialize) { |*args| log << [:initialize, args] }
      define_method(:process_exited) { log << [:exited, pid] }
      define_method(:unbind) { log << :unbind; EM.stop }
    end
    t0 = now
    took = nil
    run_em do
      w = EM.watch_process(pid, handler, :a) { |c| log << [:block, c.pid] }
      expect(w).to be_a(EM::ProcessWatch)
      expect(w.pid).to eq(pid)
      EM.add_shutdown_hook { took = now - t0 }
    end
    expect(log).to eq([[:initialize, [:a]], [:block, pid], [:exited, pid], :unbind])
    expect(took).to be_between(0.25, bound(3))
  end

  it "takes the pid as a String too (pid.to_i)", em_rust_only: no_pidfd do
    pid = spawn_sleeper(0.1)
    exited = false
    run_em do
      EM.watch_process(pid.to_s, Module.new { define_method(:process_exited) { exited = true; EM.stop } })
    end
    expect(exited).to be(true)
  end

  it "stop_watching unbinds, and the exit is then not reported", em_rust_only: no_pidfd do
    log = []
    pid = spawn_sleeper(0.2)
    handler = Class.new(EM::ProcessWatch) do
      define_method(:process_exited) { log << :exited }
      define_method(:unbind) { log << :unbind }
    end
    run_em do
      w = EM.watch_process(pid, handler)
      EM.add_timer(0.05) { w.stop_watching }
      EM.add_timer(0.5) { EM.stop }
    end
    expect(log).to eq([:unbind])
  end

  it "raises EM::Unsupported for a pid that does not exist", em_rust_only: no_pidfd do
    pid = spawn_sleeper(0)
    Process.wait(pid) # reaped: the pid is free
    @sleepers.delete(pid)
    run_em do
      expect { EM.watch_process(pid, EM::ProcessWatch) }.to raise_error(EM::Unsupported)
      EM.stop
    end
  end
end
