# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.run" do
  it "runs the block with the reactor running, on the calling thread, and returns nil after EM.stop" do
    seen = nil
    result = EM.run do
      seen = [EM.reactor_running?, EM.reactor_thread?, EM.reactor_thread.equal?(Thread.current)]
      EM.stop
    end
    expect(seen).to eq([true, true, true])
    expect(result).to be_nil
  end

  it "calls the block with no arguments" do
    args = nil
    EM.run { |*a| args = a; EM.stop }
    expect(args).to eq([])
  end

  it "accepts the block as a proc argument, which wins over a literal block" do
    seen = []
    EM.run(proc { seen << :proc; EM.stop }) { seen << :block; EM.stop }
    expect(seen).to eq([:proc])
  end

  it "runs without a block, driven by a next_tick queued before it" do
    seen = []
    EM.next_tick { seen << :tick; EM.stop }
    EM.run
    expect(seen).to eq([:tick])
  end

  it "keeps running after the block returns, until EM.stop" do
    seen = []
    EM.run do
      EM.add_timer(0.05) { seen << :timer; EM.stop }
      seen << :block_done
    end
    expect(seen).to eq(%i[block_done timer])
  end

  it "can be run again and again" do
    count = 0
    3.times { EM.run { EM.add_timer(0.001) { count += 1; EM.stop } } }
    expect(count).to eq(3)
    expect(EM.reactor_running?).to be(false)
  end

  describe "nested" do
    it "runs the inner block inline, returns its value and does not start a second loop" do
      seen = []
      inner_result = nil
      EM.run do
        outer_thread = EM.reactor_thread
        seen << :outer_before
        inner_result = EM.run do
          seen << [:inner, EM.reactor_thread.equal?(outer_thread)]
          :inner_value
        end
        seen << :outer_after
        EM.stop
      end
      expect(seen).to eq([:outer_before, [:inner, true], :outer_after])
      expect(inner_result).to eq(:inner_value)
    end

    it "accepts the inner block as a proc argument" do
      seen = []
      EM.run do
        EM.run(proc { seen << :inner })
        EM.stop
      end
      expect(seen).to eq([:inner])
    end

    it "runs the inner block even from a timer callback" do
      seen = []
      EM.run { EM.add_timer(0.01) { EM.run { seen << :inner }; EM.stop } }
      expect(seen).to eq([:inner])
    end
  end

  describe "tail procs (EM.run(blk, tail))" do
    it "runs the tail after the loop ends, while reactor_running? is still true" do
      seen = []
      EM.run(proc { seen << :block; EM.stop }, proc { seen << [:tail, EM.reactor_running?] })
      expect(seen).to eq([:block, [:tail, true]])
      expect(EM.reactor_running?).to be(false)
    end

    it "runs the tail of a nested run when the outer loop ends, after the outer tail" do
      seen = []
      EM.run(proc {
        EM.run(proc { seen << :inner }, proc { seen << :inner_tail })
        seen << :inner_returned
        EM.stop
      }, proc { seen << :outer_tail })
      expect(seen).to eq(%i[inner inner_returned outer_tail inner_tail])
    end

    it "runs shutdown hooks (LIFO) before tail procs" do
      seen = []
      EM.run(proc {
        EM.add_shutdown_hook { seen << :hook1 }
        EM.add_shutdown_hook { seen << :hook2 }
        EM.stop
      }, proc { seen << :tail })
      expect(seen).to eq(%i[hook2 hook1 tail])
    end

    it "runs the tail when an exception ends the loop" do
      seen = []
      expect { EM.run(proc { raise "boom" }, proc { seen << :tail }) }.to raise_error(RuntimeError, "boom")
      expect(seen).to eq([:tail])
    end
  end

  describe "EM.run_block" do
    it "runs the block with the reactor running, then stops the reactor and returns" do
      seen = []
      EM.run_block { seen << EM.reactor_running? << EM.reactor_thread? }
      expect(seen).to eq([true, true])
      expect(EM.reactor_running?).to be(false)
    end

    it "does not wait for timers the block added" do
      fired = false
      t0 = now
      EM.run_block { EM.add_timer(2) { fired = true } }
      expect(fired).to be(false)
      expect(now - t0).to be < bound(1.0)
    end

    it "re-raises an exception from the block" do
      expect { EM.run_block { raise ArgumentError, "in block" } }.to raise_error(ArgumentError, "in block")
      expect(EM.reactor_running?).to be(false)
    end
  end

  describe "EM.reactor_running?" do
    it "is false before, true inside and in callbacks, true while shutdown hooks run, false after" do
      seen = []
      seen << EM.reactor_running?
      EM.run do
        seen << EM.reactor_running?
        EM.add_shutdown_hook { seen << EM.reactor_running? }
        EM.add_timer(0.01) { seen << EM.reactor_running?; EM.stop }
      end
      seen << EM.reactor_running?
      expect(seen).to eq([false, true, true, true, false])
    end

    it "is true from another thread while the reactor runs" do
      seen = nil
      EM.run { Thread.new { seen = EM.reactor_running?; EM.stop }.join }
      expect(seen).to be(true)
    end
  end

  describe "EM.reactor_thread / EM.reactor_thread?" do
    it "is nil outside a run and the running thread inside; nil again after" do
      expect(EM.reactor_thread).to be_nil
      inside = nil
      EM.run { inside = EM.reactor_thread; EM.stop }
      expect(inside).to be(Thread.current)
      expect(EM.reactor_thread).to be_nil
    end

    it "reactor_thread? is true on the reactor thread (also in shutdown hooks) and false elsewhere" do
      seen = {}
      caller_thread = Thread.current
      EM.run do
        seen[:block] = EM.reactor_thread?
        EM.add_shutdown_hook { seen[:hook] = EM.reactor_thread? }
        Thread.new do
          seen[:other] = EM.reactor_thread?
          seen[:other_sees] = EM.reactor_thread.equal?(caller_thread)
          EM.next_tick { seen[:tick] = EM.reactor_thread?; EM.stop }
        end
      end
      expect(seen).to eq(block: true, other: false, other_sees: true, tick: true, hook: true)
      expect(EM.reactor_thread?).to be(false)
    end

    it "names the background thread when EM.run runs in one" do
      th = Thread.new { EM.run }
      deadline = now + bound(3)
      sleep 0.005 until EM.reactor_running? || now > deadline
      expect(EM.reactor_running?).to be(true)
      expect(EM.reactor_thread).to be(th)
      expect(EM.reactor_thread?).to be(false)
      on_reactor = Queue.new
      EM.next_tick { on_reactor << EM.reactor_thread?; EM.stop }
      expect(on_reactor.pop).to be(true)
      expect(th.join(bound(3))).to be(th)
      expect(EM.reactor_running?).to be(false)
    end
  end
end
