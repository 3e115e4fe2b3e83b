# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.next_tick" do
  it "runs the block on the reactor thread, after the current callback returns" do
    seen = []
    EM.run do
      EM.next_tick { seen << [:tick, EM.reactor_thread?]; EM.stop }
      seen << :block_done
    end
    expect(seen).to eq([:block_done, [:tick, true]])
  end

  it "runs queued ticks in FIFO order" do
    seen = []
    EM.run do
      5.times { |i| EM.next_tick { seen << i } }
      EM.next_tick { EM.stop }
    end
    expect(seen).to eq([0, 1, 2, 3, 4])
  end

  it "runs a tick queued from a tick after the ticks already queued" do
    seen = []
    EM.run do
      EM.next_tick { seen << :a; EM.next_tick { seen << :c; EM.stop } }
      EM.next_tick { seen << :b }
    end
    expect(seen).to eq(%i[a b c])
  end

  it "runs ticks queued in a callback before a zero-second timer added there, and a tick queued by a tick on the next turn, after that timer" do
    seen = []
    EM.run do
      EM.add_timer(0) { seen << :timer0 }
      EM.next_tick { seen << :t1; EM.next_tick { seen << :t1_next_turn } }
      EM.next_tick { seen << :t2 }
      EM.add_timer(0.05) { EM.stop }
    end
    expect(seen).to eq(%i[t1 t2 timer0 t1_next_turn])
  end

  it "a tick that re-queues itself forever does not starve timers" do
    n = 0
    fired_at = nil
    t0 = now
    EM.run do
      tick = proc { n += 1; EM.next_tick(tick) }
      EM.next_tick(tick)
      EM.add_timer(0.02) { fired_at = now - t0; EM.stop }
    end
    expect(fired_at).to be < bound(0.5)
    expect(n).to be > 1
  end

  it "takes a proc or any callable, which wins over a block, and calls it with no arguments" do
    seen = []
    callable = Object.new
    callable.define_singleton_method(:call) { |*a| seen << [:object, a] }
    EM.run do
      EM.next_tick(proc { |*a| seen << [:proc, a] }) { seen << :block }
      EM.next_tick(callable)
      EM.next_tick(nil) { |*a| seen << [:block_with_nil, a] }
      EM.next_tick { EM.stop }
    end
    expect(seen).to eq([[:proc, []], [:object, []], [:block_with_nil, []]])
  end

  describe "before EM.run" do
    it "keeps ticks queued before EM.run and runs them at start, in order, after the run block" do
      seen = []
      EM.next_tick { seen << :pre1 }
      EM.next_tick { seen << :pre2 }
      EM.run do
        seen << :block
        EM.next_tick { seen << :inside; EM.stop }
      end
      expect(seen).to eq(%i[block pre1 pre2 inside])
    end

    it "is dropped by EM.cleanup_machine" do
      seen = []
      EM.next_tick { seen << :pre }
      EM.cleanup_machine
      EM.run { EM.add_timer(0.02) { EM.stop } }
      expect(seen).to eq([])
    end
  end

  describe "the queue at stop" do
    it "drops ticks queued by a tick after EM.stop: they never run, not even in the next run" do
      seen = []
      EM.run do
        EM.next_tick do
          EM.stop
          EM.next_tick { seen << :dropped }
        end
      end
      EM.run { EM.next_tick { EM.next_tick { EM.stop } } }
      expect(seen).to eq([])
    end

    it "drops ticks queued from a shutdown hook" do
      seen = []
      EM.run { EM.add_shutdown_hook { EM.next_tick { seen << :dropped } }; EM.stop }
      EM.run { EM.next_tick { EM.next_tick { EM.stop } } }
      expect(seen).to eq([])
    end
  end

  describe "from other threads" do
    it "runs every tick once, on the reactor thread, in each thread's order" do
      seen = Hash.new { |h, k| h[k] = [] }
      off_thread = false
      EM.run do
        4.times do |i|
          Thread.new do
            500.times do |j|
              EM.next_tick do
                off_thread ||= !EM.reactor_thread?
                seen[i] << j
              end
            end
          end
        end
        EM.add_periodic_timer(0.01) { EM.stop if seen.values.sum(&:size) >= 2000 }
      end
      expect(off_thread).to be(false)
      expect(seen.keys.sort).to eq([0, 1, 2, 3])
      seen.each_value { |v| expect(v).to eq((0...500).to_a) }
    end

    it "is accepted from another thread before EM.run and runs at start" do
      seen = []
      Thread.new { EM.next_tick { seen << :from_thread; EM.stop } }.join
      EM.run
      expect(seen).to eq([:from_thread])
    end
  end
end
