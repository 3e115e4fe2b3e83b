# frozen_string_literal: true
module EventMachine
  # A one-shot timer that can be cancelled.
  class Timer
    # Calls `callback` (or the block) once, after `interval` seconds.
    def initialize(interval, callback = nil, &block)
      @signature = EventMachine.add_timer(interval, callback || block)
    end

    def cancel
      EventMachine.cancel_timer(@signature)
    end
  end

  # Calls its code every `interval` seconds until cancelled. Each run is scheduled
  # when the previous one fires, so the interval is a lower bound.
  class PeriodicTimer
    attr_accessor :interval

    def initialize(interval, callback = nil, &block)
      @interval = interval
      @code = callback || block
      raise ArgumentError, "periodic timer code must respond to #call" unless @code.respond_to?(:call)
      @cancelled = false
      @work = method(:fire)
      schedule
    end

    def cancel
      @cancelled = true
      EventMachine.cancel_timer(@signature) if @signature
    end

    # Arms the timer for the next run.
    def schedule
      @signature = EventMachine.add_timer(@interval, @work)
    end

    # One run: the code, then the next schedule (unless cancelled meanwhile).
    def fire
      return if @cancelled
      @code.call
      schedule unless @cancelled
    end
  end
end
