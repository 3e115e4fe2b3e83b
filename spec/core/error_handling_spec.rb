# frozen_string_literal: true
require "spec_helper"

RSpec.describe "exceptions raised in callbacks" do
  after { EM.error_handler(nil) }

  # Runs EM.run with the given setup and returns [raised exception, seconds taken].
  def run_expecting_error
    t0 = now
    EM.run { yield }
    raise "EM.run returned normally"
  rescue Exception => e # rubocop:disable Lint/RescueException
    raise if e.message == "EM.run returned normally"
    [e, now - t0]
  end

  def expect_reactor_reusable
    expect(EM.reactor_running?).to be(false)
    expect(EM.reactor_thread).to be_nil
    seen = []
    EM.run do
      EM.next_tick { seen << :tick }
      EM.add_timer(0.01) { seen << :timer; EM.stop }
    end
    expect(seen).to eq(%i[tick timer])
  end

  {
    "the run block" => ->(err) { raise err },
    "a timer" => ->(err) { EM.add_timer(0.01) { raise err } },
    "a next_tick" => ->(err) { EM.next_tick { raise err } },
    "a periodic timer" => ->(err) { EM.add_periodic_timer(0.01) { raise err } },
    "a schedule callback from another thread" => ->(err) { Thread.new { EM.schedule { raise err } } },
    "a defer callback" => ->(err) { EM.defer(proc { :result }, proc { |_r| raise err }) },
    "a defer errback" => ->(err) { EM.defer(proc { raise "op failed" }, proc {}, proc { |_e| raise err }) },
  }.each do |where, setup|
    it "in #{where} stops the loop, is re-raised from EM.run (the same object) and EM.run works again right after" do
      err = RuntimeError.new("raised in #{where}")
      raised, took = run_expecting_error { setup.call(err) }
      expect(raised).to be(err)
      expect(took).to be < bound(2)
      expect_reactor_reusable
    end
  end

  it "re-raises exceptions that are not StandardErrors too" do
    err = Exception.new("not a StandardError")
    raised, = run_expecting_error { EM.next_tick { raise err } }
    expect(raised).to be(err)
    expect_reactor_reusable
  end

  it "lets a throw pass through EM.run and cleans up" do
    caught = catch(:out) do
      EM.run { EM.next_tick { throw :out, :thrown } }
      :not_thrown
    end
    expect(caught).to eq(:thrown)
    expect_reactor_reusable
  end

  it "drops the failed run's pending timers and queued ticks" do
    stale = []
    run_expecting_error do
      EM.add_timer(0.05) { stale << :timer }
      EM.next_tick { raise "first tick fails" }
      EM.next_tick { stale << :second_tick }
    end
    EM.run { EM.add_timer(0.15) { EM.stop } }
    expect(stale).to eq([])
  end

  it "keeps the exception's class, message and backtrace" do
    raised, = run_expecting_error { EM.add_timer(0.01) { raise ArgumentError, "bad thing" } }
    expect(raised).to be_a(ArgumentError)
    expect(raised.message).to eq("bad thing")
    expect(raised.backtrace.first).to include(__FILE__)
  end

  describe "EM.error_handler" do
    it "receives the exception (the same object) on the reactor thread, and the loop keeps running" do
      handled = []
      err1 = RuntimeError.new("from tick")
      err2 = ArgumentError.new("from timer")
      EM.error_handler { |e| handled << [e, EM.reactor_thread?] }
      EM.run do
        EM.next_tick { raise err1 }
        EM.add_timer(0.01) { raise err2 }
        EM.add_timer(0.05) { handled << :still_running; EM.stop }
      end
      expect(handled).to eq([[err1, true], [err2, true], :still_running])
    end

    it "handles an exception from the run block" do
      handled = []
      EM.error_handler { |e| handled << e.message }
      EM.run do
        EM.add_timer(0.02) { EM.stop }
        raise "from run block"
      end
      expect(handled).to eq(["from run block"])
    end

    it "handles an exception from a defer callback" do
      handled = []
      EM.error_handler { |e| handled << e.message }
      EM.run do
        EM.defer(proc { 7 }, proc { |v| EM.add_timer(0.01) { EM.stop }; raise "callback got #{v}" })
      end
      expect(handled).to eq(["callback got 7"])
    end

    it "lets the ticks queued behind a failing tick run" do
      seen = []
      EM.error_handler { |e| seen << e.message }
      EM.run do
        EM.next_tick { raise "first" }
        EM.next_tick { seen << :second; EM.stop }
      end
      expect(seen).to eq(["first", :second])
    end

    it "accepts the handler as a callable argument" do
      handled = []
      EM.error_handler(proc { |e| handled << e.message })
      EM.run { EM.next_tick { raise "x" }; EM.add_timer(0.02) { EM.stop } }
      expect(handled).to eq(["x"])
    end

    it "stays installed across runs" do
      handled = []
      EM.error_handler { |e| handled << e.message }
      EM.run { EM.add_timer(0.01) { EM.stop }; raise "run 1" }
      EM.run { EM.add_timer(0.01) { EM.stop }; raise "run 2" }
      expect(handled).to eq(["run 1", "run 2"])
    end

    it "is removed by EM.error_handler(nil), and by EM.error_handler with no argument" do
      [-> { EM.error_handler(nil) }, -> { EM.error_handler }].each do |remove|
        handled = []
        EM.error_handler { |e| handled << e }
        remove.call
        expect { EM.run { EM.next_tick { raise "unhandled" } } }.to raise_error(RuntimeError, "unhandled")
        expect(handled).to eq([])
      end
    end

    it "re-raises from EM.run what the handler itself raises" do
      EM.error_handler { |e| raise ArgumentError, "handler failed on #{e.message}" }
      expect { EM.run { EM.next_tick { raise "x" } } }.to raise_error(ArgumentError, "handler failed on x")
      EM.error_handler(nil)
      expect_reactor_reusable
    end

    it "does not see exceptions that are not StandardErrors: they end EM.run" do
      handled = []
      EM.error_handler { |e| handled << e }
      err = Exception.new("fatal")
      expect { EM.run { EM.next_tick { raise err } } }.to raise_error(err)
      expect(handled).to eq([])
      EM.error_handler(nil)
      expect_reactor_reusable
    end

    it "stops a periodic timer whose block raised (it is not rescheduled), as EM's PeriodicTimer does" do
      fires = 0
      handled = 0
      EM.error_handler { |_e| handled += 1 }
      EM.run do
        EM.add_periodic_timer(0.01) { fires += 1; raise "periodic" }
        EM.add_timer(0.15) { EM.stop }
      end
      expect([fires, handled]).to eq([1, 1])
    end
  end
end
