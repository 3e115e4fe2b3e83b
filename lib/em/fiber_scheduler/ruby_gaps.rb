# frozen_string_literal: true

module EventMachine
  class FiberScheduler
    # What Ruby 3.1 does not tell a fiber scheduler, told here.
    #
    # IO#close: a thread blocked on an IO that another thread closes gets IOError;
    # Ruby 3.1 does nothing for a fiber waiting through the scheduler (Ruby 3.5's
    # fiber_interrupt hook does). The scheduler watching the fd wakes its fibers
    # with that IOError before the fd goes.
    module CloseInterrupt
      def close
        FiberScheduler.io_closing(self) if FiberScheduler.watching_any?
        super
      end
    end

    # fork: the child has none of the parent's reactor, so a scheduler it inherited
    # on the forking thread is dropped there (its fibers are the parent's).
    module ForkReset
      def _fork
        pid = super
        FiberScheduler.forked if pid.zero?
        pid
      end
    end

    # Ruby 3.5+: IO#close interrupts a fiber waiting on that IO (any thread).
    def fiber_interrupt(fiber, exception)
      interrupt = proc { wake(fiber, @waits[fiber], Raise.new(exception)) }
      EM.reactor_thread? ? interrupt.call : EM.next_tick(&interrupt)
    end

    # The fd is about to close: the fibers waiting on it get IOError, as threads do.
    def io_closing(fd)
      watch = @watches[fd] or return
      interrupt = proc do
        next unless @watches[fd].equal?(watch)

        forget_watch(fd)
        watch.detach
        error = IOError.new("stream closed in another thread")
        watch.waiters.to_a.each { |fiber, (wait, _)| wake(fiber, wait, Raise.new(error)) }
      end
      EM.reactor_thread? ? interrupt.call : EM.next_tick(&interrupt)
    end

    # Someone attaches the fd (release_fd): an idle watch of it goes now.
    def release_idle_watch(fd)
      watch = @watches[fd]
      return unless watch&.idle?

      forget_watch(fd)
      watch.detach
    end

    # In a forked child: the parent's fibers and reactor are not here.
    def forget_all
      [@waits, @wait_timers, @serial, @fibers, @watches, @idle_watches].each(&:clear)
      @idle.clear
      @pending.clear
      @thread_blocks.clear
      @thread_blocks_lock = Mutex.new # the parent's may have been held by another thread
      @scheduled = 0
      @loop = @owns_loop = false
      @closed = true
    end

    @owners = {} # fd => the scheduler watching it
    @owners_lock = Mutex.new

    class << self
      def watching(fd, scheduler) = @owners_lock.synchronize { @owners[fd] = scheduler }

      def unwatching(fd, scheduler)
        @owners_lock.synchronize { @owners.delete(fd) if @owners[fd].equal?(scheduler) }
      end

      def watching_any? = !@owners.empty?

      # EM.attach / EM.watch of an fd: a scheduler's watch of it that nobody waits
      # on goes first (the poll set holds an fd once).
      def release_fd(fd)
        return if @owners.empty?

        @owners_lock.synchronize { @owners[fd] }&.release_idle_watch(fd)
      end

      def io_closing(io)
        fd = io.fileno
        owner = @owners_lock.synchronize { @owners[fd] }
        owner&.io_closing(fd)
      rescue IOError
        nil # already closed
      end

      def forked
        @owners_lock = Mutex.new # the parent's may have been held by another thread
        @owners.clear
        scheduler = Fiber.scheduler
        return unless scheduler.is_a?(FiberScheduler)

        scheduler.forget_all
        Fiber.set_scheduler(nil)
      end
    end

    IO.prepend(CloseInterrupt) if RUBY_VERSION < "3.5" # later Rubies call fiber_interrupt
    Process.singleton_class.prepend(ForkReset)
  end
end
