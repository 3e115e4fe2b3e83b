# frozen_string_literal: true
require "spec_helper"

# Each EM.run opens its poll set, timer and waker descriptors; all of them must be
# closed when EM.run returns, however it returns, not when the GC gets to them.
RSpec.describe "EM.run and the process's descriptors", timeout: 60 do
  def fds = Dir.children("/proc/self/fd").size

  it "holds no descriptor of a run after 1,000 runs under RLIMIT_NOFILE 256" do
    result = run_ruby(<<~'RUBY', timeout: bound(50))
      fds = -> { Dir.children("/proc/self/fd").size }
      Process.setrlimit(:NOFILE, 256)
      GC.disable # the GC must not be what closes them
      before = fds.call
      counts = Array.new(1000) do
        EM.run { EM.stop }
        fds.call
      end
      puts "before #{before} max #{counts.max} after #{counts.last}"
    RUBY
    expect(result).to be_success, result.output
    before, max, after = result.output.scan(/\d+/).map(&:to_i)
    expect([max, after]).to eq([before, before]), result.output
  end

  it "releases them when the run ends by an exception" do
    before = fds
    20.times do
      expect { EM.run { raise ArgumentError, "boom" } }.to raise_error(ArgumentError, "boom")
    end
    expect(fds).to eq(before)
  end

  it "releases them when another thread raises into the run" do
    before = fds
    5.times do
      runner = Thread.new do
        EM.run { EM.add_periodic_timer(0.01) {} }
      rescue RuntimeError
        :interrupted
      end
      sleep 0.01 until EM.reactor_running?
      runner.raise(RuntimeError, "stop now")
      expect(runner.value).to eq(:interrupted)
    end
    expect(fds).to eq(before)
  end

  it "releases what a connection held, with the connections it had open" do
    before = fds
    3.times do
      EM.run do
        EM.start_server("127.0.0.1", 0, EM::Connection)
        EM.open_datagram_socket("127.0.0.1", 0, EM::Connection)
        EM.add_timer(0.01) { EM.stop }
      end
    end
    expect(fds).to eq(before)
  end
end
