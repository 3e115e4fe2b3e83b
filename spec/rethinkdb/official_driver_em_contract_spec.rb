# frozen_string_literal: true

# What the official rethinkdb gem's em_run needs from EventMachine (RETHINKDB.md
# §1): its listener thread reads the socket with the GVL released and hands
# each response to the reactor with EM.next_tick, checks EM.reactor_running?
# from that thread, and force-closes queries from an EM.add_shutdown_hook.
# These specs run against both em_rust and the real eventmachine.
RSpec.describe "the EventMachine contract of the official rethinkdb gem" do
  it "runs a next_tick from a listener thread while the reactor waits with nothing to do" do
    reader, writer = IO.pipe
    delivered = nil
    ran_on = nil
    EM.run do
      Thread.new do
        reader.read(1) # blocks as the listener's socket read does
        sent = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        running = EM.reactor_running?
        EM.next_tick do
          delivered = [Process.clock_gettime(Process::CLOCK_MONOTONIC) - sent, running]
          ran_on = Thread.current
          EM.stop
        end
      end
      Thread.new do
        sleep 0.1
        writer.write("x")
      rescue IOError
        nil # the example ended first and closed it
      end
    end
    expect(delivered[1]).to be(true)
    expect(delivered[0]).to be < bound(0.5)
    expect(ran_on).to equal(Thread.main)
  ensure
    reader&.close
    writer&.close
  end

  it "delivers many next_ticks from a busy listener, in order" do
    got = []
    EM.run do
      Thread.new do
        500.times { |i| EM.next_tick { got << i } }
        EM.next_tick { EM.stop }
      end
    end
    expect(got).to eq((0...500).to_a)
  end

  it "answers reactor_running? from any thread, true while the shutdown hooks run" do
    seen = {}
    EM.run do
      Thread.new { seen[:thread] = EM.reactor_running? }.join
      EM.add_shutdown_hook { seen[:hook] = EM.reactor_running? }
      EM.add_shutdown_hook { seen[:hook_thread] = Thread.new { EM.reactor_running? }.value }
      EM.stop
    end
    expect(seen).to eq({ thread: true, hook: true, hook_thread: true })
    expect(Thread.new { EM.reactor_running? }.value).to be(false)
  end

  it "runs shutdown hooks last-in first-out, once per EM.run, also when an exception ends it" do
    order = []
    EM.run do
      EM.add_shutdown_hook { order << :first }
      EM.add_shutdown_hook { order << :second }
      EM.stop
    end
    EM.run { EM.stop }
    expect(order).to eq(%i[second first])
    expect do
      EM.run do
        EM.add_shutdown_hook { order << :unwinding }
        EM.next_tick { raise ArgumentError, "from a tick" }
      end
    end.to raise_error(ArgumentError, "from a tick")
    expect(order.last).to eq(:unwinding)
  end

  it "lets a guard re-register its hook in each EM.run (EM_Guard's @@registered reset)" do
    registered = false
    fired = 0
    register = lambda do
      next if registered
      registered = true
      EM.add_shutdown_hook do
        registered = false
        fired += 1
      end
    end
    2.times do
      EM.run do
        register.call
        register.call
        EM.stop
      end
    end
    expect(fired).to eq(2)
  end

  it "propagates an exception raised in a next_tick out of EM.run after the hooks" do
    hook_saw_running = nil
    expect do
      EM.run do
        EM.add_shutdown_hook { hook_saw_running = EM.reactor_running? }
        Thread.new { EM.next_tick { raise RuntimeError, "handler error" } }
      end
    end.to raise_error(RuntimeError, "handler error")
    expect(hook_saw_running).to be(true)
  end

  it "propagates an exception raised by a shutdown hook out of EM.run" do
    result = run_ruby(<<~RUBY)
      begin
        EM.run { EM.add_shutdown_hook { raise "from the hook" }; EM.stop }
      rescue => e
        puts "raised: \#{e.message}"
      end
    RUBY
    expect(result.output).to include("raised: from the hook")
  end

  it "runs a nested EM.run's block inline" do
    inner = nil
    EM.run do
      EM.run { inner = EM.reactor_running? }
      EM.stop
    end
    expect(inner).to be(true)
  end
end
