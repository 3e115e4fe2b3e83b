# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.add_shutdown_hook" do
  it "runs the hooks after the loop, last added first" do
    seen = []
    EM.run do
      EM.add_shutdown_hook { seen << :first_added }
      EM.add_shutdown_hook { seen << :second_added }
      EM.add_shutdown_hook { seen << :third_added }
      seen << :block
      EM.stop
    end
    expect(seen).to eq(%i[block third_added second_added first_added])
  end

  it "runs the hooks on the reactor thread while the reactor still counts as running and stopping" do
    seen = nil
    EM.run do
      EM.add_shutdown_hook do
        seen = [EM.reactor_running?, EM.reactor_thread?, EM.reactor_thread.equal?(Thread.current), EM.stopping?]
      end
      EM.stop
    end
    expect(seen).to eq([true, true, true, true])
    expect(EM.reactor_running?).to be(false)
  end

  it "keeps a hook added before EM.run and runs it at the end of that run, after the run's own hooks" do
    seen = []
    EM.add_shutdown_hook { seen << :before_run }
    EM.run do
      EM.add_shutdown_hook { seen << :inside }
      EM.stop
    end
    expect(seen).to eq(%i[inside before_run])
  end

  it "runs hooks added from a nested EM.run with the others" do
    seen = []
    EM.run do
      EM.add_shutdown_hook { seen << :outer1 }
      EM.run { EM.add_shutdown_hook { seen << :nested } }
      EM.add_shutdown_hook { seen << :outer2 }
      EM.stop
    end
    expect(seen).to eq(%i[outer2 nested outer1])
  end

  it "runs a hook that a hook adds" do
    seen = []
    EM.run do
      EM.add_shutdown_hook { seen << :a; EM.add_shutdown_hook { seen << :b } }
      EM.stop
    end
    expect(seen).to eq(%i[a b])
  end

  it "clears the list at the end of each run" do
    seen = []
    EM.run { EM.add_shutdown_hook { seen << :once }; EM.stop }
    EM.run { EM.stop }
    expect(seen).to eq([:once])
  end

  it "runs the hooks, LIFO, when an exception unwinds EM.run, with the reactor still running" do
    seen = []
    expect do
      EM.run do
        EM.add_shutdown_hook { seen << [:first, EM.reactor_running?] }
        EM.add_shutdown_hook { seen << [:second, EM.reactor_running?] }
        EM.add_timer(0.01) { raise "boom" }
      end
    end.to raise_error(RuntimeError, "boom")
    expect(seen).to eq([[:second, true], [:first, true]])
    expect(EM.reactor_running?).to be(false)
  end

  it "drops ticks queued from a hook: they never run, not even in the next run" do
    seen = []
    EM.run do
      EM.add_shutdown_hook { EM.next_tick { seen << :tick_from_hook } }
      EM.stop
    end
    EM.run { EM.next_tick { EM.next_tick { EM.stop } } }
    expect(seen).to eq([])
  end

  it "still runs the earlier hooks when one raises, re-raises, and leaves a reusable reactor",
     em_rust_only: "EM aborts its cleanup when a hook raises: later hooks are skipped and reactor_running? stays true" do
    seen = []
    expect do
      EM.run do
        EM.add_shutdown_hook { seen << :earlier }
        EM.add_shutdown_hook { raise ArgumentError, "in hook" }
        EM.stop
      end
    end.to raise_error(ArgumentError, "in hook")
    expect(seen).to eq([:earlier])
    expect(EM.reactor_running?).to be(false)
    fired = false
    EM.run { EM.add_timer(0.01) { fired = true; EM.stop } }
    expect(fired).to be(true)
  end
end
