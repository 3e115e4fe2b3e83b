# frozen_string_literal: true

module EventMachine
  class FiberScheduler
    # io_wait's side of the reactor: one EM.watch per fd, shared by the fibers
    # waiting on it; process_wait's watch of a child.

    private

    # The events of +events+ the fd is ready for now: a poll that does not wait
    # (IO.select reaches no scheduler hook on Ruby 3.1).
    def ready_now(io, events)
      read = events.anybits?(IO::READABLE | IO::PRIORITY) ? [io] : nil
      write = events.anybits?(IO::WRITABLE) ? [io] : nil
      priority = events.anybits?(IO::PRIORITY) ? [io] : nil
      r, w, e = IO.select(read, write, priority, 0)
      return 0 unless r

      (r.empty? ? 0 : events & IO::READABLE) | (w.empty? ? 0 : IO::WRITABLE) | (e.empty? ? 0 : IO::PRIORITY)
    end

    # An unbuffered IO for +io+'s fd, for reading ("rb") or writing ("wb"); it never
    # closes the fd.
    def raw(io, mode)
      key = (io.fileno << 1) | (mode == "rb" ? 0 : 1) # an Integer: no Array per read or write
      cached = (@raw ||= {})[key]
      return cached if cached && !cached.closed?

      @raw[key] = IO.for_fd(io.fileno, mode, autoclose: false)
    end

    # The watch of +io+'s fd; an idle one left from an IO since closed (by code that
    # did not call IO#close, e.g. IO.popen's block) is dropped first.
    def watch_for(io)
      fd = io.fileno
      watch = @watches[fd]
      # Another IO object on the same open fd (a dup'd IO, IO.for_fd) shares it.
      return watch if watch && (watch.io.equal?(io) || (!watch.idle? && !watch.io.closed?))

      if watch
        forget_watch(fd)
        watch.detach
      end
      FiberScheduler.watching(fd, self)
      @watches[fd] = EM.watch(io, IOWatch, self, io)
    end

    def forget_watch(fd)
      FiberScheduler.unwatching(fd, self)
      @watches.delete(fd)
    end

    # A watch nobody waits on stays registered until the next tick, then goes.
    def idle_watch(watch)
      @idle_watches << watch
      return if @sweep_scheduled || !@loop

      @sweep_scheduled = true
      EM.next_tick { sweep_watches }
    end

    def sweep_watches
      @sweep_scheduled = false
      idle = @idle_watches
      @idle_watches = []
      idle.each do |watch|
        watch.swept
        next unless watch.idle? && @watches[watch.fd_number].equal?(watch) # else in use again

        forget_watch(watch.fd_number)
        watch.detach
      end
    end


    # The readiness of one fd for the fibers waiting on it.
    class IOWatch < EventMachine::Connection
      include Internal
      attr_reader :waiters, :fd_number, :io

      def initialize(scheduler, io)
        super()
        @scheduler = scheduler
        @io = io
        @fd_number = io.fileno
        @waiters = {} # fiber => [wait, events]
        @reading = @writing = @idle = false
      end

      def idle? = @waiters.empty?

      def add(fiber, wait, events)
        @waiters[fiber] = [wait, events]
        @idle = false
        interest
      end

      def remove(fiber)
        return unless @waiters.delete(fiber)
        return interest unless @waiters.empty?

        @scheduler.__send__(:idle_watch, self) unless @idle
        @idle = true
      end

      # Swept: nobody waited on it since it went idle.
      def swept = (@idle = false)

      def notify_readable = ready(IO::READABLE)
      def notify_writable = ready(IO::WRITABLE)

      private

      # The events asked for, set on the reactor when they change. An idle watch
      # keeps its interest until the sweep (a woken fiber usually waits on the
      # same fd again at once); the reactor never touches an fd number another
      # descriptor has taken over (its owner may close it behind our back).
      def interest
        wanted = 0
        @waiters.each_value { |(_, events)| wanted |= events }
        read = wanted.anybits?(IO::READABLE | IO::PRIORITY)
        write = wanted.anybits?(IO::WRITABLE)
        self.notify_readable = read unless read == @reading
        self.notify_writable = write unless write == @writing
        @reading = read
        @writing = write
      end

      def ready(event)
        @waiters.to_a.each do |fiber, (wait, events)|
          @scheduler.wake(fiber, wait, event) if events.anybits?(event) || (event == IO::READABLE && events.anybits?(IO::PRIORITY))
        end
      end
    end

    # A watched child's exit: the waiting fiber reaps it.
    class ProcessExit < EventMachine::ProcessWatch
      include Internal

      def initialize(scheduler, fiber, wait)
        super()
        @scheduler = scheduler
        @fiber = fiber
        @wait = wait
      end

      def process_exited
        @scheduler.wake(@fiber, @wait, :exited)
      end
    end
  end
end
