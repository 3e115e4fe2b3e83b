# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.defer" do
  after do
    EM.threadpool_size = 20
    EM.error_handler(nil)
  end

  it "runs the operation on a pool thread and passes its result to the callback on the reactor thread" do
    seen = {}
    result = Object.new
    EM.run do
      reactor = Thread.current
      EM.defer(
        proc { seen[:op] = [Thread.current != reactor, EM.reactor_thread?]; result },
        proc { |r| seen[:callback] = [r, Thread.current == reactor, EM.reactor_thread?]; EM.stop }
      )
    end
    expect(seen[:op]).to eq([true, false])
    expect(seen[:callback][0]).to be(result)
    expect(seen[:callback][1, 2]).to eq([true, true])
  end

  it "calls the operation with no arguments and passes nil results on" do
    seen = []
    EM.run { EM.defer(proc { |*a| seen << a; nil }, proc { |r| seen << r; EM.stop }) }
    expect(seen).to eq([[], nil])
  end

  it "runs several operations at once: 5 ops sleeping 0.2 s all finish in well under 1 s" do
    done = 0
    t0 = nil
    took = nil
    EM.run do
      t0 = now
      5.times do
        EM.defer(proc { sleep 0.2 }, proc { done += 1; (took = now - t0; EM.stop) if done == 5 })
      end
    end
    expect(done).to eq(5)
    expect(took).to be < bound(0.7)
  end

  it "gives an exception raised by the operation to the errback, on the reactor thread, not to the callback" do
    seen = []
    err = ArgumentError.new("op failed")
    EM.run do
      EM.defer(proc { raise err }, proc { seen << :callback }, proc { |e| seen << [e, EM.reactor_thread?]; EM.stop })
    end
    expect(seen).to eq([[err, true]])
  end

  it "delivers every result even when a callback raises (the error goes to EM.error_handler)",
     em_rust_only: "real EM stops draining its result queue at the raising callback: the rest wait for more defers" do
    got = []
    errors = []
    EM.run do
      EM.error_handler { |e| errors << e.message }
      20.times do |i|
        EM.defer(proc { i }, proc { |r| got << r; raise "callback #{r}" if r.even? })
      end
      EM.add_periodic_timer(0.01) { EM.stop if got.size == 20 }
      EM.add_timer(5) { EM.stop }
    end
    EM.error_handler(nil)
    expect(got.sort).to eq((0...20).to_a)
    expect(errors.sort).to eq((0...20).select(&:even?).map { |i| "callback #{i}" }.sort)
    expect(EM.defers_finished?).to be(true)
  end

  it "takes the operation as a block when it is the only argument" do
    seen = []
    EM.run { EM.defer { seen << EM.reactor_thread?; EM.next_tick { EM.stop } } }
    expect(seen).to eq([false])
  end

  it "takes the operation as a block with a callback argument" do
    seen = []
    EM.run { EM.defer(nil, proc { |r| seen << r; EM.stop }) { 41 + 1 } }
    expect(seen).to eq([42])
  end

  it "keeps the reactor responsive while operations run" do
    ticks = 0
    EM.run do
      EM.defer(proc { sleep 0.3 }, proc { EM.stop })
      EM.add_periodic_timer(0.01) { ticks += 1 }
    end
    expect(ticks).to be >= 5
  end

  describe "EM.threadpool_size" do
    it "is 20 by default" do
      expect(EM.threadpool_size).to eq(20)
    end

    it "is used when the pool is created: a pool of 3 runs 6 ops of 0.2 s in two waves" do
      EM.threadpool_size = 3
      done = 0
      took = nil
      size = nil
      EM.run do
        t0 = now
        6.times { EM.defer(proc { sleep 0.2 }, proc { done += 1; (took = now - t0; EM.stop) if done == 6 }) }
        size = EM.threadpool.size
      end
      expect(size).to eq(3)
      expect(took).to be >= 0.39
      expect(took).to be < bound(1.5)
    end

    it "runs at most threadpool_size ops at once" do
      EM.threadpool_size = 2
      running = 0
      peak = 0
      lock = Mutex.new
      done = 0
      EM.run do
        6.times do
          op = proc do
            lock.synchronize { running += 1; peak = [peak, running].max }
            sleep 0.05
            lock.synchronize { running -= 1 }
          end
          EM.defer(op, proc { done += 1; EM.stop if done == 6 })
        end
      end
      expect(peak).to eq(2)
    end
  end

  describe "EM.threadpool" do
    it "is nil until the first defer, then an Array of threadpool_size Threads; nil again after the run" do
      seen = []
      EM.run do
        seen << EM.threadpool
        EM.defer(proc { 1 }, proc { EM.stop })
        seen << EM.threadpool.size << EM.threadpool.all?(Thread)
      end
      expect(seen).to eq([nil, 20, true])
      expect(EM.threadpool).to be_nil
    end
  end

  describe "EM.defers_finished?" do
    it "is true with no pool, false while an op is running, true once all are done" do
      seen = []
      EM.run do
        seen << EM.defers_finished?
        EM.defer(proc { sleep 0.1 })
        seen << EM.defers_finished?
        waited = 0
        check = proc do
          if EM.defers_finished? || waited > 100
            seen << EM.defers_finished?
            EM.stop
          else
            waited += 1
            EM.add_timer(0.02, check)
          end
        end
        EM.add_timer(0.15, check)
      end
      expect(seen).to eq([true, false, true])
    end
  end

  describe "at EM.stop" do
    it "does not wait for running operations, and never calls their callbacks" do
      seen = []
      t0 = now
      EM.run do
        3.times { EM.defer(proc { sleep 5 }, proc { seen << :callback }) }
        EM.add_timer(0.1) { EM.stop }
      end
      expect(now - t0).to be < bound(1.0)
      EM.run { EM.add_timer(0.05) { EM.stop } }
      expect(seen).to eq([])
    end

    it "leaves no pool threads running once EM.run returned" do
      before = Thread.list.select(&:alive?).size
      EM.run do
        3.times { EM.defer(proc { sleep 5 }) }
        EM.add_timer(0.1) { EM.stop }
      end
      deadline = now + bound(2)
      sleep 0.01 while Thread.list.count(&:alive?) > before && now < deadline
      expect(Thread.list.count(&:alive?)).to be <= before
    end

    it "does not keep the process alive (child process exits promptly)" do
      r = run_ruby(<<~'RUBY', timeout: 8)
        EM.run do
          4.times { EM.defer { sleep 30 } }
          EM.add_timer(0.2) { EM.stop }
        end
        puts "run returned"
      RUBY
      expect(r.output).to include("run returned")
      expect(r.success?).to be(true), r.output
      expect(r.elapsed).to be < bound(5)
    end

    it "gives a fresh pool to the next run" do
      seen = []
      EM.run { EM.defer(proc { sleep 5 }); EM.add_timer(0.05) { EM.stop } }
      EM.run { EM.defer(proc { :fresh }, proc { |r| seen << r; EM.stop }) }
      expect(seen).to eq([:fresh])
    end
  end

  describe "an operation that raises with no errback (child process)" do
    it "sends the exception to the main thread at once, ending EM.run with it" do
      r = run_ruby(<<~'RUBY')
        t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        begin
          EM.run do
            EM.defer(proc { raise ArgumentError, "op blew up" })
            EM.add_timer(4) { puts "not interrupted"; EM.stop }
          end
          puts "run returned normally"
        rescue Exception => e
          printf("raised %s: %s after %.3f\n", e.class, e.message, Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0)
        end
      RUBY
      m = r.output.match(/^raised ArgumentError: op blew up after ([\d.]+)$/)
      expect(m).not_to be_nil, r.output
      expect(Float(m[1])).to be < bound(2)
    end

    it "is not given to EM.error_handler" do
      r = run_ruby(<<~'RUBY')
        handled = []
        EM.error_handler { |e| handled << e.message }
        begin
          EM.run do
            EM.defer(proc { raise "op blew up" })
            EM.add_timer(4) { EM.stop }
          end
          puts "run returned normally"
        rescue Exception => e
          puts "raised #{e.message} handled=#{handled.inspect}"
        end
      RUBY
      expect(r.output).to include("raised op blew up handled=[]")
    end

    it "leaves a reactor that works again right after",
       em_rust_only: "EM's cleanup_machine joins the dead pool thread, which re-raises, so reactor_running? stays true" do
      r = run_ruby(<<~'RUBY')
        begin
          EM.run { EM.defer(proc { raise "op blew up" }); EM.add_timer(4) { EM.stop } }
        rescue => e
          puts "raised #{e.message} running=#{EM.reactor_running?}"
        end
        seen = []
        EM.run do
          EM.defer(proc { :ok }, proc { |v| seen << v; EM.add_timer(0.01) { seen << :timer; EM.stop } })
        end
        puts "again #{seen.inspect}"
      RUBY
      expect(r.output).to include("raised op blew up running=false")
      expect(r.output).to include("again [:ok, :timer]")
    end
  end
end
