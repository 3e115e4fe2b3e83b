# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.stop / EM.stop_event_loop" do
  it "ends the loop after the current callback returns: code after EM.stop still runs" do
    seen = []
    EM.run do
      EM.stop
      seen << :after_stop
    end
    expect(seen).to eq([:after_stop])
  end

  it "is harmless when called twice" do
    expect { EM.run { EM.stop; EM.stop } }.not_to raise_error
    expect(EM.reactor_running?).to be(false)
  end

  it "has the alias EM.stop_event_loop" do
    seen = []
    EM.run { EM.add_timer(0.01) { EM.stop_event_loop; seen << :stopped } }
    expect(seen).to eq([:stopped])
    expect(EM.reactor_running?).to be(false)
  end

  it "works from a timer, a next_tick and a defer callback" do
    3.times do |i|
      done = false
      EM.run do
        case i
        when 0 then EM.add_timer(0.01) { done = true; EM.stop }
        when 1 then EM.next_tick { done = true; EM.stop }
        when 2 then EM.defer(proc { :r }, proc { done = true; EM.stop })
        end
      end
      expect(done).to be(true)
    end
  end

  it "never fires timers that were still pending, in this run or a later one" do
    fired = []
    EM.run do
      EM.add_timer(0.05) { fired << :pending }
      EM.add_periodic_timer(0.05) { fired << :periodic }
      EM.add_timer(0.01) { EM.stop }
    end
    EM.run { EM.add_timer(0.15) { EM.stop } }
    expect(fired).to eq([])
  end

  it "from another thread wakes an idle loop and makes EM.run return" do
    t0 = nil
    EM.run { Thread.new { sleep 0.05; t0 = now; EM.stop } }
    expect(now - t0).to be < bound(0.5)
    expect(EM.reactor_running?).to be(false)
  end

  describe "EM.stopping?" do
    it "is false while running and true once EM.stop was called" do
      seen = []
      EM.run do
        seen << EM.stopping?
        EM.stop
        seen << EM.stopping?
      end
      expect(seen).to eq([false, true])
    end

    it "is true in shutdown hooks" do
      seen = nil
      EM.run { EM.add_shutdown_hook { seen = EM.stopping? }; EM.stop }
      expect(seen).to be(true)
    end

    it "is false again in a new run" do
      EM.run { EM.stop }
      seen = nil
      EM.run { seen = EM.stopping?; EM.stop }
      expect(seen).to be(false)
    end
  end
end
