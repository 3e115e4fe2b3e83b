# frozen_string_literal: true
require "spec_helper"

RSpec.describe "interrupting an idle EM.run" do
  describe "Thread#raise" do
    def raise_into_idle_reactor(setup: nil)
      outcome = Queue.new
      th = Thread.new do
        EM.run { setup&.call }
        outcome << [:returned]
      rescue Exception => e # rubocop:disable Lint/RescueException
        outcome << [e, now]
      end
      deadline = now + bound(3)
      sleep 0.005 until EM.reactor_running? || now > deadline
      sleep 0.1 # let it go idle
      t0 = now
      err = RuntimeError.new("interrupted from outside")
      th.raise(err)
      raised, at = outcome.pop
      th.join(bound(3))
      [raised, at && at - t0, err]
    end

    it "interrupts the thread promptly and the exception comes out of EM.run; the reactor is reusable" do
      raised, latency, err = raise_into_idle_reactor
      expect(raised).to be(err)
      expect(latency).to be < bound(0.5)
      expect(EM.reactor_running?).to be(false)
      fired = false
      EM.run { EM.add_timer(0.01) { fired = true; EM.stop } }
      expect(fired).to be(true)
    end

    it "interrupts it promptly with a far-off timer pending too" do
      raised, latency, err = raise_into_idle_reactor(setup: -> { EM.add_timer(30) {} })
      expect(raised).to be(err)
      expect(latency).to be < bound(0.5)
    end

    it "runs the shutdown hooks on the way out" do
      hooks = []
      raised, = raise_into_idle_reactor(setup: -> { EM.add_shutdown_hook { hooks << EM.reactor_running? } })
      expect(raised).to be_a(RuntimeError)
      expect(hooks).to eq([true])
    end
  end

  describe "signals (child process)" do
    def idle_child(code_after_ready = "")
      spawn_ruby(<<~RUBY)
        $stdout.sync = true
        #{code_after_ready}
        begin
          EM.run do
            EM.add_shutdown_hook { puts "hook ran" }
            EM.next_tick { puts "ready" }
          end
          puts "run returned"
        rescue Interrupt => e
          puts "Interrupt out of EM.run, running=\#{EM.reactor_running?}"
          exit! 42
        rescue SignalException => e
          puts "\#{e.class} \#{e.signo} out of EM.run"
          exit! 43
        end
      RUBY
    end

    it "SIGINT ends it promptly with Interrupt, after the shutdown hooks" do
      child = idle_child
      child.wait_for(/ready/, timeout: 8)
      sleep 0.2
      t0 = now
      child.signal(:INT)
      status = child.finish(timeout: 5)
      expect(now - t0).to be < bound(1.5)
      expect(status.exitstatus).to eq(42), child.output
      expect(child.output).to include("hook ran\nInterrupt out of EM.run, running=false")
    end

    it "an unhandled SIGINT terminates the process by the signal" do
      child = spawn_ruby('$stdout.sync = true; EM.run { EM.next_tick { puts "ready" } }')
      child.wait_for(/ready/, timeout: 8)
      sleep 0.2
      child.signal(:INT)
      status = child.finish(timeout: 5)
      expect(status.signaled?).to be(true), child.output
      expect(status.termsig).to eq(Signal.list["INT"])
    end

    it "SIGTERM ends it promptly with SignalException" do
      child = idle_child
      child.wait_for(/ready/, timeout: 8)
      sleep 0.2
      child.signal(:TERM)
      status = child.finish(timeout: 5)
      expect(status.exitstatus).to eq(43), child.output
      expect(child.output).to include("SignalException #{Signal.list['TERM']} out of EM.run")
    end

    it "a Signal.trap handler runs promptly and can stop the reactor" do
      child = idle_child('Signal.trap("USR1") { puts "trap ran"; EM.stop }')
      child.wait_for(/ready/, timeout: 8)
      sleep 0.2
      t0 = now
      child.signal(:USR1)
      status = child.finish(timeout: 5)
      expect(now - t0).to be < bound(1.5)
      expect(status.exitstatus).to eq(0), child.output
      expect(child.output).to include("trap ran\nhook ran\nrun returned")
    end

    it "EM.next_tick works from a Signal.trap handler",
       em_rust_only: "EM's next_tick locks a Mutex, which raises ThreadError in trap context" do
      child = idle_child('Signal.trap("USR1") { EM.next_tick { puts "tick from trap"; EM.stop } }')
      child.wait_for(/ready/, timeout: 8)
      sleep 0.2
      child.signal(:USR1)
      status = child.finish(timeout: 5)
      expect(status.exitstatus).to eq(0), child.output
      expect(child.output).to include("tick from trap\nhook ran\nrun returned")
    end
  end
end
