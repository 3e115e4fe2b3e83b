# frozen_string_literal: true
# The reactor's life: EM.run, stop, shutdown hooks, the error handler, fork; and
# next_tick / schedule, callbacks queued from any thread that run on the reactor
# thread at the end of the current (or first) loop turn.
module EventMachine
  @next_tick_queue = [] # never replaced: the running Machine holds this Array
  @timers = {}          # likewise: timer signature => callable (filled natively)
  @tails = []
  @reactor_running = false
  @reactor_thread = nil
  @reactor_pid = nil
  @machine = nil
  @simultaneous_accept_count = 256 # more per readiness than EM's 10: fewer turns under a burst

  class << self
    # Runs the event loop until EM.stop. A nested call runs its block inline.
    # `tail` runs after the loop, after the shutdown hooks. An exception raised by any
    # callback ends the loop and is re-raised here, after cleanup.
    def run(blk = nil, tail = nil, &block)
      reset_after_fork if @reactor_running && !reactor_running?
      @tails.unshift(tail) if tail
      code = blk || block
      return code&.call if reactor_running?

      begin
        initialize_event_machine
        @reactor_pid = Process.pid
        @reactor_thread = Thread.current
        @reactor_running = true
        fibers = FiberScheduler.attach
        add_timer(0, code) if code
        run_machine
      ensure
        ended_by = $! # an error a fiber raised while ending must not replace it
        begin
          FiberScheduler.detach(fibers) if fibers
        rescue Exception # rubocop:disable Lint/RescueException -- re-raised unless another is on its way
          raise unless ended_by
        ensure
          shut_down
        end
      end
      nil
    end

    # With true, every callback EM invokes (post_init, receive_data, unbind,
    # connection_completed, ssl_handshake_completed, notify_*, timers, next_ticks,
    # defer callbacks) runs in a non-blocking fiber from a pool, so a blocking call
    # in it suspends that callback only; one connection's callbacks stay in order.
    # Settable before or inside EM.run; false by default.
    def callbacks_in_fibers=(on)
      @callbacks_in_fibers = on ? true : false
      @machine&.callbacks_in_fibers = @callbacks_in_fibers
    end

    def callbacks_in_fibers? = @callbacks_in_fibers == true
    alias callbacks_in_fibers callbacks_in_fibers?

    # The reactor's route for a callback while callbacks_in_fibers is on (native
    # dispatch calls it): through the thread's FiberScheduler, else directly.
    def fiber_call(key, receiver, method, *args)
      scheduler = Fiber.scheduler
      return receiver.__send__(method, *args) unless scheduler.is_a?(FiberScheduler)

      scheduler.dispatch(key, receiver, method, *args)
    end

    # Runs the block in a new non-blocking fiber on the reactor (see
    # em/fiber_scheduler.rb): blocking calls in it suspend it, not the loop.
    # Returns the Fiber.
    def fiber(&block)
      raise ArgumentError, "EM.fiber needs a block" unless block
      raise RuntimeError, "EM.fiber: the reactor is not running" unless reactor_running?
      raise RuntimeError, "EM.fiber must be called on the reactor thread" unless reactor_thread?

      scheduler = Fiber.scheduler
      unless scheduler.is_a?(FiberScheduler)
        raise RuntimeError, "EM.fiber: this thread's fiber scheduler is a #{scheduler.class}, not EM::FiberScheduler"
      end

      scheduler.fiber(&block)
    end

    # Runs the block in a reactor, then stops it.
    def run_block(&block)
      run { block.call; stop }
    end

    # True inside EM.run (and while its shutdown hooks run); false in a forked
    # child until it starts its own reactor.
    def reactor_running?
      @reactor_running && @reactor_pid == Process.pid
    end

    # em_rust's own (EM has no such call): what the loop is doing, cheap enough to
    # call every second from any thread. Outside EM.run only :running (false) and
    # the defer pool's keys. In seconds:
    #   turns                loop turns since EM.run began
    #   busy_seconds         time in callbacks and the reactor's own reads/writes
    #   wait_seconds         time blocked waiting for I/O or a timer
    #   loop_lag_seconds     the longest turn of the last 1 to 2 seconds (or the
    #                        current one, if longer): how late the loop may answer
    #   current_turn_seconds how long the turn in progress has run (0 while waiting)
    #   timers               pending timers
    #   descriptors          open descriptors by kind (stream, acceptor, datagram,
    #                        watch, other: inotify and pidfd)
    #   outbound_bytes       bytes queued by send_data and not yet written
    #   defer_queue          EM.defer jobs waiting for a worker
    #   defers_pending       EM.defer jobs queued, running or waiting to call back
    def stats
      machine = @machine
      base = machine ? machine.stats : {}
      base[:running] = !machine.nil?
      base[:defer_queue] = @defer_jobs.size / 3
      base[:defers_pending] = @defers_pending
      base
    end

    def reactor_thread?
      Thread.current == @reactor_thread
    end

    attr_reader :reactor_thread

    # Asks the loop to stop after the current turn. Callable from any thread.
    def stop_event_loop
      machine!("evma_stop_machine").stop
    end

    def stop
      stop_event_loop
    end

    def stopping?
      machine!("evma_stopping").stopping?
    end

    # Blocks run after the loop ends, last added first.
    def add_shutdown_hook(&block)
      @tails << block
    end

    # With a callable, makes it the receiver of every StandardError a callback
    # raises (the loop goes on); with nothing, removes it.
    def error_handler(cb = nil, &blk)
      if cb || blk
        @error_handler = cb || blk
      elsif instance_variable_defined?(:@error_handler)
        remove_instance_variable(:@error_handler)
      end
    end

    # Forks; the child stops the inherited reactor and runs a new one with the block.
    def fork_reactor(&block)
      Kernel.fork { run(block) } # run resets what the parent's reactor left
    end

    # @!method next_tick(callable = nil, &block)
    #   Queues a callable to run on the next turn of the loop; works before EM.run
    #   and from any thread (it wakes a sleeping reactor). Native
    #   (ruby_api/event_machine.rs, `fn next_tick`): it is the hottest path of all.

    # Runs the callback now on the reactor thread, else on the next turn.
    def schedule(*args, &blk)
      cb = Callback(*args, &blk)
      if reactor_running? && reactor_thread?
        cb.call
      else
        next_tick { cb.call }
      end
    end

    # Wakes the reactor from any thread.
    def signal_loopbreak
      machine!("evma_signal_loopbreak").signal_loopbreak
    end

    # Runs the ticks queued so far (the native loop does this every turn).
    def run_deferred_callbacks
      @next_tick_queue.size.times { @next_tick_queue.shift&.call }
    end

    # Binding-level API (EM's C names).
    def initialize_event_machine
      raise RuntimeError, "eventmachine already initialized: evma_initialize_library" if @machine
      @machine = Machine.new(@next_tick_queue, @timers, @conns, self)
      @machine.heartbeat = DEFAULT_HEARTBEAT
      @machine.max_timers = @max_timers
      @machine.simultaneous_accept_count = @simultaneous_accept_count
      @machine.callbacks_in_fibers = true if @callbacks_in_fibers
      @heartbeat_interval = DEFAULT_HEARTBEAT
    end

    def run_machine
      machine!("evma_run_machine").run_machine
    end

    def run_machine_once
      machine!("evma_run_machine_once").run_machine_once
    end

    # Closes everything; unbinds run now and may still call into the reactor
    # (add_timer, stop, close_connection), as in EM, with no lasting effect.
    def release_machine
      @machine&.release
    ensure
      @machine = nil
    end

    # Nothing of this run carries over, also when an exception ended it (EM's
    # run starts with new tables too).
    def cleanup_machine
      shut_down_threadpool
      @next_tick_queue.clear
      [@conns, @acceptors, @timers].each(&:clear)
    end

    # Called by the native loop with an exception a callback raised; true if the
    # error handler took it (EM hands it only StandardErrors).
    def handle_callback_error(error)
      return false unless @error_handler && error.is_a?(StandardError)
      @error_handler.call(error)
      true
    end

    private

    def machine!(function)
      @machine or raise RuntimeError, "eventmachine not initialized: #{function}"
    end

    # The loop has ended (stop or exception): hooks LIFO, then release. Every hook
    # runs even if one raises (EM would skip the rest and stay "running"); the first
    # hook exception propagates once the reactor is released.
    def shut_down
      failure = nil
      until @tails.empty?
        begin
          @tails.pop.call
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
          failure ||= e
        end
      end
      raise failure if failure
    ensure
      @tails.clear
      begin
        release_machine
        cleanup_machine
      ensure
        @reactor_running = false
        @reactor_thread = nil
      end
    end

    # In a forked child: the parent's reactor is not ours to run or close.
    def reset_after_fork
      @machine = nil # the parent's poll set: not ours to close
      @next_tick_queue.clear
      @threadpool = nil
      @job_queue = nil
      @defer_lock = Thread::Mutex.new # a thread of the parent may have held it
      @reactor_running = false
      @reactor_thread = nil
    end
  end
end
