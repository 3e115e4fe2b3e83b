# frozen_string_literal: true
require "spec_helper"

RSpec.describe "periodic timers" do
  describe "EM.add_periodic_timer" do
    it "returns an EM::PeriodicTimer" do
      pt = nil
      EM.run { pt = EM.add_periodic_timer(1) {}; EM.stop }
      expect(pt).to be_an(EM::PeriodicTimer)
    end

    it "fires repeatedly, at least the interval apart, with no arguments" do
      stamps = []
      args = []
      t0 = nil
      EM.run do
        t0 = now
        pt = EM.add_periodic_timer(0.03) do |*a|
          args << a
          stamps << now - t0
          if stamps.size == 4
            pt.cancel
            EM.stop
          end
        end
      end
      expect(args).to eq([[]] * 4)
      gaps = stamps.each_cons(2).map { |a, b| b - a }
      expect(stamps.first).to be >= 0.0299
      expect(gaps).to all(be >= 0.0299)
      expect(stamps.last).to be < bound(1.0)
    end

    it "takes a callable instead of a block" do
      n = 0
      EM.run do
        pt = EM.add_periodic_timer(0.005, proc { n += 1; (pt.cancel; EM.stop) if n == 3 })
      end
      expect(n).to eq(3)
    end

    it "measures each interval from the end of the previous callback (no catch-up)" do
      stamps = []
      t0 = nil
      EM.run do
        t0 = now
        pt = EM.add_periodic_timer(0.02) do
          stamps << now - t0
          sleep 0.03 # the callback overruns the interval
          (pt.cancel; EM.stop) if stamps.size == 3
        end
      end
      gaps = stamps.each_cons(2).map { |a, b| b - a }
      expect(gaps).to all(be >= 0.0499)
    end

    it "with a zero interval fires on every turn without starving other timers or ticks" do
      n = 0
      seen = []
      EM.run do
        EM.add_periodic_timer(0) { n += 1 }
        EM.next_tick { seen << :tick }
        EM.add_timer(0.02) { seen << :timer; EM.stop }
      end
      expect(seen).to eq(%i[tick timer])
      expect(n).to be > 2
    end
  end

  describe "EM::PeriodicTimer" do
    it "can be created directly, from a block or a callable" do
      seen = []
      EM.run do
        a = EM::PeriodicTimer.new(0.01) { seen << :block }
        b = EM::PeriodicTimer.new(0.01, proc { seen << :callable })
        EM.add_timer(0.015) { a.cancel; b.cancel; EM.stop }
      end
      expect(seen.sort).to eq(%i[block callable])
    end

    it "#cancel from its own callback stops it" do
      n = 0
      EM.run do
        pt = EM.add_periodic_timer(0.005) { n += 1; pt.cancel if n == 2 }
        EM.add_timer(0.1) { EM.stop }
      end
      expect(n).to eq(2)
    end

    it "#cancel before the first fire means it never fires" do
      n = 0
      EM.run do
        EM.add_periodic_timer(0.005) { n += 1 }.cancel
        EM.add_timer(0.05) { EM.stop }
      end
      expect(n).to eq(0)
    end

    it "#interval returns the interval and #interval= changes it from the next scheduling on" do
      stamps = []
      intervals = []
      t0 = nil
      EM.run do
        t0 = now
        pt = EM.add_periodic_timer(0.1) do
          stamps << now - t0
          intervals << pt.interval
          pt.interval = 0.02
          if stamps.size == 3
            pt.cancel
            EM.stop
          end
        end
      end
      expect(intervals).to eq([0.1, 0.02, 0.02])
      expect(stamps[0]).to be >= 0.0999
      gaps = stamps.each_cons(2).map { |a, b| b - a }
      expect(gaps).to all(be >= 0.0199)
      expect(gaps).to all(be < bound(0.09))
    end

    it "#fire runs the block at once and schedules one more firing" do
      seen = []
      counts = nil
      EM.run do
        EM.next_tick do
          pt = EM.add_periodic_timer(5) { seen << :fired }
          before = EM.get_timer_count
          pt.fire
          counts = [before, EM.get_timer_count]
          EM.stop
        end
      end
      expect(seen).to eq([:fired])
      expect(counts[1]).to eq(counts[0] + 1)
    end

    it "#fire does nothing once cancelled" do
      seen = []
      EM.run do
        pt = EM.add_periodic_timer(5) { seen << :fired }
        pt.cancel
        pt.fire
        EM.stop
      end
      expect(seen).to eq([])
    end

    it "#schedule adds one more timer for the next firing and returns its Integer signature" do
      n = 0
      result = nil
      EM.run do
        EM.next_tick do
          pt = EM.add_periodic_timer(0.03) { n += 1 }
          before = EM.get_timer_count
          sig = pt.schedule
          result = [sig.class, EM.get_timer_count - before]
          EM.add_timer(0.045) { pt.cancel; EM.stop }
        end
      end
      expect(result).to eq([Integer, 1])
      expect(n).to eq(2) # both pending firings ran once, at about 30 ms
    end

    it "has the public methods cancel, interval, interval=, fire and schedule" do
      expect(EM::PeriodicTimer.public_method_defined?(:cancel)).to be(true)
      %i[interval interval= fire schedule].each do |m|
        expect(EM::PeriodicTimer.public_method_defined?(m)).to be(true), m.to_s
      end
      expect(EM::Timer.public_method_defined?(:cancel)).to be(true)
    end
  end
end
