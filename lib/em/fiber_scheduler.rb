# frozen_string_literal: true
require "io/nonblock"
require "io/wait"
require "socket"
require "timeout"

module EventMachine
  # A Fiber::Scheduler (Ruby 3.1's interface) on the EventMachine reactor: in a
  # non-blocking fiber, blocking Ruby code (IO, sleep, Queue#pop, Mutex,
  # Timeout.timeout, Process.wait, DNS) suspends the fiber and the loop goes on.
  # Waits are EM registrations: an EM.watch of the fd, an EM timer, the defer pool
  # for getaddrinfo, watch_process for a child. Fibers are resumed on the reactor
  # thread from EM callbacks; wake-ups from other threads go through next_tick.
  #
  # Two ways to use it:
  #   Fiber.set_scheduler(EM::FiberScheduler.new)   # stand-alone: the fibers run
  #   Fiber.schedule { ... }                          # in an EM.run when the thread
  #                                                   # ends, or on scheduler.run
  #   EM.run { EM.fiber { ... } }                     # inside EM.run (reactor.rb
  #                                                   # installs one per run)
  #
  # Only fibers this scheduler started are suspended. Any other non-blocking fiber
  # (em-synchrony's, a user's Fiber.new) blocks the thread as it would without a
  # scheduler, so classic EM code behaves as before.
  class FiberScheduler
    # Raised into every fiber still suspended when the reactor stops (an Exception,
    # so that `rescue => e` in the fiber does not keep it alive; ensure blocks run).
    class Stopped < Exception # rubocop:disable Lint/InheritException
      def initialize(msg = "the reactor stopped while this fiber was waiting") = super
    end

    # A wake-up that raises in the woken fiber instead of returning a value.
    Raise = Struct.new(:error)
    # One suspension: what woke it may only wake this one (`kind` :io, :sleep,
    # :block...). With a timeout it is also the timer's callable (no Proc per wait).
    # What the scheduler itself has the reactor call back (a wait's timer, an fd's
    # readiness, a child's exit): they only wake fibers, so with callbacks in
    # fibers they run as they come, not in a pool fiber of their own.
    module Internal; end

    Wait = Struct.new(:kind, :scheduler, :fiber, :timeout_value) do
      include Internal

      def call = scheduler.__send__(:timed_out, self)
    end
    # A throw out of a fiber (a throw cannot cross fibers): thrown again by the
    # code that resumed it, so that it reaches a catch around EM.run as it would
    # without fibers.
    Thrown = Struct.new(:tag, :value)

    # +attached+: installed by EM.run for that run only (see FiberScheduler.attach).
    def initialize(attached: false)
      @attached = attached
      @starting = nil           # the block of the fiber being started (RUN_SCHEDULED)
      @stopping = false
      @wait_timers = {}.compare_by_identity # Wait => its timeout timer
      @serial = {}              # key => calls waiting for that key's running one
      @idle = []                # pool fibers parked between callbacks
      @fibers = {}.compare_by_identity # the fibers started here that have not finished => :scheduled or :pool
      @scheduled = 0            # of them, those of Fiber.schedule / EM.fiber
      @waits = {}.compare_by_identity # fiber => its current Wait
      @unblocked = Thread::Queue.new # fibers unblocked (from any thread), drained on the loop
      @pending = []             # reactor work asked for before the loop ran
      @watches = {}             # fd => IOWatch
      @idle_watches = []        # of them, those nobody waited on since the last sweep
      @sweep_scheduled = false
      @quick = nil              # the blocking fiber of `quick`
      @quick_busy = false
      @loop = false             # the reactor runs this scheduler's waits
      @owns_loop = false        # run started the EM.run it is in
      @closed = false
      @thread_blocks = {}.compare_by_identity # fiber not ours => its ThreadBlock
      @thread_blocks_lock = Mutex.new
    end

    # -- the reactor's side (called by EM.run) ------------------------------------

    # EM.run's start: the thread's scheduler if it is one of these, else a new one
    # for this run (nil if the thread has some other scheduler).
    def self.attach
      current = Fiber.scheduler
      scheduler = if current.nil?
                    new(attached: true).tap { |s| Fiber.set_scheduler(s) }
                  elsif current.is_a?(FiberScheduler)
                    current
                  end
      scheduler&.reactor_started
      scheduler
    end

    # EM.run's end, while the connections are still open: the suspended fibers end.
    def self.detach(scheduler)
      scheduler.reactor_stopping
    ensure
      Fiber.set_scheduler(nil) if scheduler.attached? && Fiber.scheduler.equal?(scheduler)
    end

    def attached? = @attached

    # The loop is running on this thread: the waits asked for before it start.
    def reactor_started
      @loop = true
      @pending.shift.call until @pending.empty?
      drain_unblocked
    end

    # The loop is ending: every suspended fiber gets Stopped; nothing waits again.
    def reactor_stopping
      @loop = false
      @stopping = true
      first_error = nil
      @waits.keys.each do |fiber|
        begin
          wake(fiber, @waits[fiber], Raise.new(Stopped.new))
        rescue Stopped
          nil
        rescue Exception => e # rubocop:disable Lint/RescueException
          first_error ||= e
        end
      end
      @idle.pop.resume(nil) until @idle.empty?
      @serial.clear
      @watches.each_key { |fd| FiberScheduler.unwatching(fd, self) }
      @watches.each_value(&:detach)
      @watches.clear
      @idle_watches.clear
      raise first_error if first_error
    ensure
      @stopping = false
    end

    # Runs the loop until no fiber scheduled here is left (stand-alone use).
    def run
      return if @scheduled.zero? || EM.reactor_running?

      @owns_loop = true
      EM.run
    ensure
      @owns_loop = false
    end

    # Called by Ruby when the thread ends or the scheduler is replaced.
    def close
      return if @closed

      run unless @loop || @attached
      reactor_stopping if @loop
      @closed = true
    end

    def closed? = @closed

    # -- Fiber::Scheduler hooks ----------------------------------------------------

    # Fiber.schedule: a non-blocking fiber, started at once.
    def fiber(&block)
      raise ArgumentError, "EM::FiberScheduler#fiber needs a block" unless block
      raise FiberError, "the fiber scheduler is closed" if @closed

      fiber = Fiber.new(&RUN_SCHEDULED)
      @fibers[fiber] = :scheduled
      @scheduled += 1
      @starting = block
      result = fiber.resume(self)
      throw result.tag, result.value if result.is_a?(Thrown)

      fiber
    end

    # The body of every Fiber.schedule fiber (non-blocking, the default), given its
    # scheduler at the first resume, which takes the block from @starting: one Proc
    # for all of them, so a fiber costs no Proc, captured frame or argument Array.
    RUN_SCHEDULED = proc do |scheduler|
      scheduler.__send__(:take_starting).call
    rescue UncaughtThrowError => e
      Thrown.new(e.tag, e.value)
    ensure
      scheduler.__send__(:finished, Fiber.current)
    end
    private_constant :RUN_SCHEDULED

    def io_wait(io, events, timeout)
      return outside { io.wait(events, timeout) && events } unless ours?

      # Ruby calls this after EAGAIN, so the fd is rarely ready now: only a zero
      # timeout polls; otherwise the reactor's next poll answers.
      if timeout&.zero?
        ready = ready_now(io, events)
        return ready.positive? ? ready : false
      end

      wait = Wait.new(:io)
      fiber = Fiber.current
      loop_ready? ? watch_io(fiber, wait, io, events, timeout) : on_loop { watch_io(fiber, wait, io, events, timeout) }
      suspend(wait)
    ensure
      @watches[io.fileno]&.remove(fiber) if fiber && !io.closed?
    end

    # IO reads and writes in a fiber: non-blocking syscalls, waiting on the reactor
    # when the fd is not ready. A blocking fd (a tty, a file) or another fiber's IO
    # is read or written as Ruby would without a scheduler. (Ruby calls these hooks
    # again from inside read_nonblock; `outside` runs it in a blocking fiber, where
    # no hook fires. The syscalls go through an unbuffered IO on the same fd: the
    # hook is called while Ruby's own buffers of +io+ are in use.) `quick` is
    # `outside` without a new fiber per call.
    def io_read(io, buffer, length, offset = 0)
      done = 0
      fd = raw(io, "rb")
      waits = ours? && fd.nonblock?
      loop do
        want = buffer.size - offset - done
        data = quick do
          waits ? fd.read_nonblock(want, exception: false) : fd.readpartial(want)
        rescue EOFError
          nil
        end
        case data
        when :wait_readable then io_wait(io, IO::READABLE, nil)
        when nil then return done
        else
          buffer.set_string(data, offset + done)
          done += data.bytesize
          return done if done >= length
        end
      end
    rescue SystemCallError => e
      -e.errno
    end

    def io_write(io, buffer, length, offset = 0)
      done = 0
      fd = raw(io, "wb")
      waits = ours? && fd.nonblock?
      loop do
        chunk = buffer.get_string(offset + done, buffer.size - offset - done)
        wrote = quick { waits ? fd.write_nonblock(chunk, exception: false) : fd.syswrite(chunk) }
        if wrote == :wait_writable
          io_wait(io, IO::WRITABLE, nil)
        else
          done += wrote
          return done if done >= length || done >= buffer.size - offset
        end
      end
    rescue SystemCallError => e
      -e.errno
    end

    def kernel_sleep(duration = nil)
      return outside { duration ? sleep(duration) : sleep } unless ours?

      wait = Wait.new(:sleep)
      fiber = Fiber.current
      loop_ready? ? wait_timer(fiber, wait, duration, true) : on_loop { wait_timer(fiber, wait, duration, true) }
      suspend(wait)
    end

    # Mutex, Queue, ConditionVariable, Thread#join: suspends until unblock (or the
    # timeout: returns false).
    def block(blocker, timeout = nil)
      return block_thread(timeout) unless ours?

      wait = Wait.new(:block)
      fiber = Fiber.current
      loop_ready? ? wait_timer(fiber, wait, timeout, false) : on_loop { wait_timer(fiber, wait, timeout, false) }
      suspend(wait)
    end

    # Any thread: the fiber resumes on the reactor thread at its next turn (one
    # this scheduler did not start: its thread goes on, see block_thread).
    def unblock(_blocker, fiber)
      return thread_block(fiber).signal unless @fibers.key?(fiber)

      @unblocked << fiber
      EM.next_tick { drain_unblocked } if @loop
    end

    # Timeout.timeout in a fiber: a reactor timer raises into it if it is still waiting.
    def timeout_after(duration, klass, *message, &block)
      return outside { Timeout.timeout(duration, klass, *message, &block) } unless ours?

      fiber = Fiber.current
      timer = nil
      on_loop do
        timer = EM.add_timer(duration) do
          timer = nil
          wait = @waits[fiber]
          wake(fiber, wait, Raise.new(klass.new(*message.compact))) if wait
        end
      end
      yield duration
    ensure
      EM.cancel_timer(timer) if timer
    end

    # Process.wait in a fiber: the child's pidfd on the reactor where it can
    # (em_rust, one pid), else the wait on the defer pool.
    def process_wait(pid, flags)
      return outside { Process::Status.wait(pid, flags) } if !ours? || flags.anybits?(Process::WNOHANG)

      wait = Wait.new(:process)
      fiber = Fiber.current
      on_loop do
        if pid.positive? && EM.respond_to?(:watch_process) && defined?(EventMachine::EM_RUST_VERSION)
          EM.watch_process(pid, ProcessExit, self, fiber, wait)
        else
          off_loop(fiber, wait) { Process::Status.wait(pid, flags) }
        end
      end
      status = suspend(wait)
      status.is_a?(Process::Status) ? status : outside { Process::Status.wait(pid, flags) }
    end

    # getaddrinfo on the defer pool; addresses in the system's order, `%iface` stripped.
    def address_resolve(hostname)
      host = hostname.sub(/%.*\z/, "")
      return [host] if numeric_address?(host)
      return outside { resolve(host) } unless ours?

      wait = Wait.new(:resolve)
      fiber = Fiber.current
      on_loop { off_loop(fiber, wait) { resolve(host) } }
      suspend(wait)
    end

    # -- helpers (used by EM.fiber, Deferrable#wait and the watch classes) ---------

    # Whether the current fiber is one this scheduler may suspend.
    def ours? = @fibers.key?(Fiber.current)

    # Whether it is one of Fiber.schedule / EM.fiber (not a callback's pool fiber).
    def scheduled? = @fibers[Fiber.current] == :scheduled

    # Suspends the current fiber until something wakes this wait; returns what it
    # was woken with, or raises it.
    def suspend(wait)
      fiber = Fiber.current
      @waits[fiber] = wait
      value = Fiber.yield
      raise value.error if value.is_a?(Raise)

      value
    ensure
      @waits.delete(fiber) if @waits[fiber].equal?(wait)
      timer = @wait_timers.delete(wait)
      EM.cancel_timer(timer) if timer && EM.reactor_running?
    end

    # Resumes `fiber` with `value` if it is still in `wait` (each wait wakes once).
    def wake(fiber, wait, value)
      return unless wait && @waits[fiber].equal?(wait)

      @waits.delete(fiber)
      resume(fiber, value)
    end

    # Resumes a fiber; a throw that ended it is thrown on from here.
    def resume(fiber, value = nil)
      result = fiber.resume(value)
      throw result.tag, result.value if result.is_a?(Thrown)

      result
    end

    private

    def finished(fiber)
      @scheduled -= 1 if @fibers.delete(fiber) == :scheduled
      @waits.delete(fiber)
      EM.stop if @owns_loop && @scheduled.zero? && EM.reactor_running?
    end

    # Reactor work: now if the loop runs on this thread, else when it starts.
    def on_loop(&work)
      raise Stopped if @closed || @stopping

      if @loop
        work.call
      else
        @pending << work
      end
    end

    def watch_io(fiber, wait, io, events, timeout)
      watch_for(io).add(fiber, wait, events)
      wait_timer(fiber, wait, timeout, false)
    end

    # Whether on_loop would run its work now: the hot waits (every sleep, IO wait,
    # Mutex/Queue wait) then call it directly, without allocating on_loop's block.
    def loop_ready? = @loop && !@closed && !@stopping

    def take_starting
      block = @starting
      @starting = nil
      block
    end

    def wait_timer(fiber, wait, seconds, value)
      return unless seconds

      wait.scheduler = self
      wait.fiber = fiber
      wait.timeout_value = value
      @wait_timers[wait] = EM.add_timer(seconds, wait)
    end

    def timed_out(wait)
      @wait_timers.delete(wait)
      wake(wait.fiber, wait, wait.timeout_value)
    end

    def drain_unblocked
      until @unblocked.empty?
        fiber = @unblocked.pop
        wait = @waits[fiber]
        wake(fiber, wait, true) if wait && %i[block sleep].include?(wait.kind)
      end
    end

    # The block on the defer pool; its value (or exception) wakes the fiber.
    def off_loop(fiber, wait)
      EM.defer(proc do
        yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        Raise.new(e)
      end, proc { |result| wake(fiber, wait, result) })
    end

    # Runs the block in a blocking fiber: no hook fires there, so it blocks the
    # thread as Ruby would without a scheduler.
    def outside(&block) = Fiber.new(blocking: true, &block).resume

    # `outside` for our own short calls (a non-blocking syscall, a poll): one
    # blocking fiber kept for them runs each, instead of a new fiber per call.
    def quick(&job)
      return outside(&job) if @quick_busy

      @quick = nil unless @quick&.alive?
      @quick ||= Fiber.new(blocking: true) { |j| loop { j = Fiber.yield(run_quick(j)) } }
      @quick_busy = true
      ok, value = begin
        @quick.resume(job)
      ensure
        @quick_busy = false
      end
      ok ? value : raise(value)
    end

    def run_quick(job)
      [true, job.call]
    rescue Exception => e # rubocop:disable Lint/RescueException -- raised by quick
      [false, e]
    end

    # A fiber this scheduler did not start blocks the thread until unblocked. The
    # unblock may come first, from another thread: it leaves its wake-up in the
    # same ThreadBlock.
    def block_thread(timeout)
      block = thread_block(Fiber.current)
      outside { block.wait(timeout) }
    ensure
      @thread_blocks_lock.synchronize { @thread_blocks.delete(Fiber.current) }
    end

    def thread_block(fiber)
      @thread_blocks_lock.synchronize { @thread_blocks[fiber] ||= ThreadBlock.new }
    end

    # One wake-up for a thread-blocked fiber, kept if it comes before the wait.
    class ThreadBlock
      def initialize
        @lock = Mutex.new
        @cond = ConditionVariable.new
        @woken = false
      end

      def signal
        @lock.synchronize do
          @woken = true
          @cond.signal
        end
      end

      # true when woken, false when +timeout+ (seconds, nil: none) ran out.
      def wait(timeout)
        deadline = timeout && Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        @lock.synchronize do
          until @woken
            left = deadline && deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
            return false if left && left <= 0

            @cond.wait(@lock, left)
          end
          @woken = false
          true
        end
      end
    end

    def numeric_address?(host)
      host.match?(/\A\d{1,3}(\.\d{1,3}){3}\z/) || (host.include?(":") && host.match?(/\A[\h:.]+\z/))
    end

    def resolve(host)
      Addrinfo.getaddrinfo(host, nil, nil, :STREAM).map(&:ip_address).uniq
    end
  end
end
require_relative "fiber_scheduler/callback_pool"
require_relative "fiber_scheduler/watches"
require_relative "fiber_scheduler/ruby_gaps"
