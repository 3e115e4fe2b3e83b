# frozen_string_literal: true

require_relative "callback"

module EventMachine
  # Creates a TickLoop and starts it.
  # @return [EM::TickLoop]
  def self.tick_loop(*a, &b)
    TickLoop.new(*a, &b).start
  end

  # Calls a block once per reactor tick until it returns :stop or #stop is
  # called, then runs the #on_stop callbacks. Spreads work across ticks.
  #
  # @example
  #   EM.tick_loop { queue.empty? ? :stop : process(queue.shift) }.on_stop { EM.stop }
  class TickLoop
    # Takes the work as anything EM::Callback accepts. The loop starts stopped.
    def initialize(*a, &b)
      @work = EM::Callback(*a, &b)
      @stops = []
      @stopped = true
    end

    # Adds a callback for the next stop; when already stopped it runs at once.
    def on_stop(*a, &b)
      cb = EM::Callback(*a, &b)
      if @stopped
        cb.call
      else
        @stops << cb
      end
    end

    # Stops the loop and runs (and forgets) the on_stop callbacks.
    def stop
      @stopped = true
      @stops.shift.call until @stops.empty?
    end

    # @return [Boolean]
    def stopped?
      @stopped
    end

    # Starts calling the work, from the next tick on.
    # @return [self]
    # @raise [ArgumentError] if already running
    def start
      raise ArgumentError, "double start" unless @stopped

      @stopped = false
      schedule_tick
    end

    private

    def schedule_tick
      EM.next_tick do
        next if @stopped

        @work.call == :stop ? stop : schedule_tick
      end
      self
    end
  end
end
