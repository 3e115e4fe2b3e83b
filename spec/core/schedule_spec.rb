# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.schedule" do
  it "on the reactor thread runs the block inline and returns its value" do
    seen = []
    result = nil
    EM.run do
      result = EM.schedule { seen << :scheduled; :value }
      seen << :after
      EM.stop
    end
    expect(seen).to eq(%i[scheduled after])
    expect(result).to eq(:value)
  end

  it "from another thread runs the block on the reactor thread, later" do
    seen = []
    lock = Mutex.new # held across schedule: an inline run would lock recursively
    EM.run do
      Thread.new do
        lock.synchronize do
          EM.schedule { lock.synchronize { seen << [:scheduled, EM.reactor_thread?] }; EM.stop }
          seen << :schedule_returned
        end
      end
    end
    expect(seen).to eq([:schedule_returned, [:scheduled, true]])
  end

  it "before EM.run queues the block like next_tick" do
    seen = []
    EM.schedule { seen << [:scheduled, EM.reactor_running?]; EM.stop }
    EM.run
    expect(seen).to eq([[:scheduled, true]])
  end

  it "accepts a callable, or an object and a method name (called with no arguments)" do
    seen = []
    target = Object.new
    target.define_singleton_method(:ping) { |*a| seen << [:ping, a] }
    EM.run do
      EM.schedule(proc { seen << :proc })
      EM.schedule(target, :ping)
      EM.stop
    end
    expect(seen).to eq([:proc, [:ping, []]])
  end

  it "raises ArgumentError with nothing callable" do
    EM.run do
      expect { EM.schedule }.to raise_error(ArgumentError)
      expect { EM.schedule(5) }.to raise_error(ArgumentError)
      EM.stop
    end
  end
end
