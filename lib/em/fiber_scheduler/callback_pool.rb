# frozen_string_literal: true

module EventMachine
  class FiberScheduler
    # EM.callbacks_in_fibers: every callback of the reactor in a pool fiber
    # (Machine::invoke calls EM.fiber_call, which calls dispatch).

    # Fibers kept parked for the next callbacks.
    POOL_SIZE = 64

    # Runs receiver.method(*args) in a pool fiber. Calls with the same +key+ (a
    # connection's signature) run one at a time in order: while one is suspended
    # the later ones wait. An exception propagates to the caller, or to whatever
    # resumed the fiber, as a callback's would. After the loop, and for the
    # scheduler's own callbacks (Internal): a plain call.
    def dispatch(key, receiver, method, *args)
      return receiver.__send__(method, *args) if !@loop || Internal === receiver

      if key && (queue = @serial[key])
        queue << [receiver, method, args]
        return
      end
      @serial[key] = [] if key
      resume(@idle.pop || pool_fiber, [key, receiver, method, args])
    end

    private

    def pool_fiber
      fiber = Fiber.new(blocking: false) do |job|
        while job
          run_serial(*job)
          job = park
        end
      rescue UncaughtThrowError => e
        Thrown.new(e.tag, e.value)
      ensure
        finished(Fiber.current)
      end
      @fibers[fiber] = :pool
      fiber
    end

    # Back to the pool until the next dispatch (nil: end), unless it is full.
    def park
      return nil if @idle.size >= POOL_SIZE || !@loop

      @idle << Fiber.current
      Fiber.yield
    end

    # One call, then the calls queued behind it for the same key.
    def run_serial(key, receiver, method, args)
      loop do
        receiver.__send__(method, *args)
        break unless key

        receiver, method, args = @serial[key].shift || break
      end
      @serial.delete(key)
    rescue Exception # rubocop:disable Lint/RescueException -- re-raised
      # The key's later calls go on at the next tick, still in order.
      if key && (queue = @serial[key])
        queue.empty? || !@loop ? @serial.delete(key) : EM.next_tick { continue_serial(key) }
      end
      raise
    end

    def continue_serial(key)
      queue = @serial[key] or return
      job = queue.shift
      return @serial.delete(key) unless job

      resume(@idle.pop || pool_fiber, [key, *job])
    end
  end
end
