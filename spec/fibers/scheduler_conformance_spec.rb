# frozen_string_literal: true
require "spec_helper"
require "timeout"

# Every Fiber::Scheduler hook reached the way Ruby's interpreter reaches it (IO
# methods, sleep, Queue, Mutex, Timeout, Process.wait, name lookup), stand-alone
# on a thread (Fiber.set_scheduler + Fiber.schedule, run when the thread ends), on
# em_rust's scheduler and on the plain reference scheduler of spec/support: the
# same examples passing on the reference prove they ask for what Ruby asks for.
RSpec.describe "Fiber::Scheduler conformance" do
  def hooks = %i[fiber io_wait io_read io_write kernel_sleep block unblock timeout_after
                 process_wait address_resolve close]

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # A subclass of +base+ that records which hooks Ruby called.
  def recording(base, calls)
    names = hooks
    Class.new(base) do
      names.each do |hook|
        next unless base.method_defined?(hook)

        define_method(hook) do |*args, &block|
          calls << hook
          super(*args, &block)
        end
      end
    end
  end

  # Runs the block in a scheduled fiber on a new thread whose scheduler is a
  # recording +scheduler_class+; returns the block's value (or raises its error).
  def scheduled(limit = 5, &body)
    value = error = nil
    scheduler = recording(scheduler_class, calls).new
    thread = Thread.new do
      Fiber.set_scheduler(scheduler)
      Fiber.schedule do
        value = body.call
      rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
        error = e
      end
    end
    unless thread.join(bound(limit))
      thread.kill
      raise "the scheduled fiber did not finish in #{limit} s"
    end
    raise error if error

    value
  end

  shared_examples "a Fiber::Scheduler" do
    let(:calls) { [] }

    it "fiber: Fiber.schedule starts a non-blocking fiber at once and returns it" do
      order = []
      fiber = scheduled do
        inner = Fiber.schedule { order << :inner_started; sleep 0.01; order << :inner_done }
        order << :after_schedule
        [inner, inner.blocking?]
      end.first
      expect(fiber).to be_a(Fiber)
      expect(order).to eq(%i[inner_started after_schedule inner_done])
      expect(calls).to include(:fiber, :close)
    end

    it "io_wait: IO#wait_readable returns once another fiber writes" do
      got = scheduled do
        r, w = IO.pipe
        Fiber.schedule { sleep 0.02; w.write("x") }
        [r.wait_readable, r.read_nonblock(1)]
      end
      expect(got.first).to be_truthy
      expect(got.last).to eq("x")
      expect(calls).to include(:io_wait)
    end

    it "io_wait with a timeout: IO#wait_readable(0.05) returns nil after the timeout" do
      got, took = scheduled do
        r, = IO.pipe
        t0 = now
        [r.wait_readable(0.05), now - t0]
      end
      expect(got).to be_nil
      expect(took).to be >= 0.04
      expect(calls).to include(:io_wait)
    end

    it "IO#read and IO#write of 256 KiB through a pipe between two fibers" do
      payload = Random.new(1).bytes(256 * 1024)
      got = scheduled do
        r, w = IO.pipe
        r.binmode
        Fiber.schedule { w.write(payload); w.close }
        r.read
      end
      expect([got.bytesize, got == payload]).to eq([payload.bytesize, true])
      expect(calls & %i[io_wait io_read]).not_to be_empty
    end

    it "kernel_sleep: two fibers' sleeps overlap" do
      took = scheduled do
        t0 = now
        done = 0
        2.times { Fiber.schedule { sleep 0.1; done += 1 } }
        sleep 0.01 until done == 2
        now - t0
      end
      expect(took).to be_between(0.09, bound(0.19))
      expect(calls.count(:kernel_sleep)).to be >= 2
    end

    it "block/unblock: Queue#pop waits for a push from another thread" do
      got = scheduled do
        q = Thread::Queue.new
        Thread.new { sleep 0.03; q << :pushed }
        q.pop
      end
      expect(got).to eq(:pushed)
      expect(calls).to include(:block, :unblock)
    end

    it "block with a timeout: ConditionVariable#wait returns after it; a Mutex held by a sleeping fiber" do
      order = scheduled do
        log = []
        m = Mutex.new
        Fiber.schedule { m.synchronize { log << :a_locked; sleep 0.03; log << :a_unlocks } }
        m.synchronize { log << :b_locked }
        t0 = now
        m.synchronize { ConditionVariable.new.wait(m, 0.05) }
        log << (now - t0 >= 0.04 ? :cv_timed_out : :cv_early)
      end
      expect(order).to eq(%i[a_locked a_unlocks b_locked cv_timed_out])
      expect(calls).to include(:block, :unblock)
    end

    it "Thread#join and Thread#value from a fiber" do
      expect(scheduled { Thread.new { sleep 0.02; 42 }.value }).to eq(42)
      expect(calls).to include(:block)
    end

    it "timeout_after: Timeout.timeout interrupts a sleep with the class and message asked for" do
      error, took = scheduled do
        t0 = now
        begin
          Timeout.timeout(0.05, ArgumentError, "too slow") { sleep 2 }
        rescue ArgumentError => e
          [e, now - t0]
        end
      end
      expect(error).to be_a(ArgumentError)
      expect(error.message).to eq("too slow")
      expect(took).to be_between(0.04, 1.0)
      expect(calls).to include(:timeout_after)
    end

    it "timeout_after: a block that finishes in time returns its value" do
      expect(scheduled { Timeout.timeout(1) { sleep 0.01; :in_time } }).to eq(:in_time)
    end

    it "process_wait: Process.wait2 returns the child's status" do
      pid, status = scheduled { Process.wait2(Process.spawn("exit 3")) }
      expect(status).to be_a(Process::Status)
      expect([status.pid, status.exitstatus]).to eq([pid, 3])
      expect(calls).to include(:process_wait)
    end

    it "address_resolve: Addrinfo.getaddrinfo of localhost gives the loopback address" do
      got = scheduled { Addrinfo.getaddrinfo("localhost", 80, nil, :STREAM).map(&:ip_address) }
      expect(got & ["127.0.0.1", "::1"]).not_to be_empty
      expect(calls).to include(:address_resolve)
    end

    it "close: fibers still waiting when the thread's block ends run to their end" do
      log = []
      scheduled do
        3.times { |i| Fiber.schedule { sleep 0.01 * (3 - i); log << i } }
        :returned_first
      end
      expect(log).to eq([2, 1, 0])
      expect(calls).to include(:close)
    end
  end

  describe "the reference scheduler (spec/support)" do
    let(:scheduler_class) { ReferenceScheduler }

    it_behaves_like "a Fiber::Scheduler"
  end

  describe "EM::FiberScheduler", em_rust_only: "EventMachine has no fiber scheduler" do
    let(:scheduler_class) { EM::FiberScheduler }

    it_behaves_like "a Fiber::Scheduler"
  end
end
