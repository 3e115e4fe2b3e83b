# frozen_string_literal: true
# One-shot timers, the timer cap and the loop's time. EM::Timer and EM::PeriodicTimer
# are in lib/em/timers.rb; the heartbeat and quantum are in connection_binding.rb.
module EventMachine
  DEFAULT_MAX_TIMERS = 100_000
  MIN_MAX_TIMERS = 100 # EM never lets the cap go below this
  @max_timers = nil

  class << self
    # @!method add_timer(interval, callable = nil, &block)
    #   Calls the callable or block once, after `interval` seconds (sub-millisecond
    #   resolution). Returns the timer's Integer signature, or nil without code.
    #   Native (ruby_api/event_machine.rs, `fn add_timer`): it is the hottest timer path.

    def add_periodic_timer(interval, code = nil, &block)
      PeriodicTimer.new(interval, code || block)
    end

    # Cancels an EM::Timer / EM::PeriodicTimer, or a signature from add_timer.
    def cancel_timer(timer_or_sig)
      if timer_or_sig.respond_to?(:cancel)
        timer_or_sig.cancel
      elsif timer_or_sig.is_a?(Integer)
        @machine&.cancel_timer(timer_or_sig)
      end
    end

    def get_timer_count
      machine!("evma_get_timer_count").timer_count
    end

    # A cap on outstanding timers; past it add_timer raises RuntimeError. em_rust has
    # no cap unless one is set here (before EM.run, as in EM).
    def set_max_timers(count)
      raise RuntimeError, "eventmachine already initialized: evma_set_max_timer_count" if @machine
      raise TypeError, "no implicit conversion of #{count.class} into Integer" unless count.respond_to?(:to_int)
      count = count.to_int
      raise RangeError, "integer #{count} too big to convert to 'int'" unless count.between?(-2**31, 2**31 - 1)
      @max_timers = [count, MIN_MAX_TIMERS].max
      nil
    end
    alias set_max_timer_count set_max_timers

    # The cap in force: EM's default of 100,000 is reported, but only a cap set
    # with set_max_timers is enforced.
    def get_max_timers
      @max_timers || DEFAULT_MAX_TIMERS
    end
    alias get_max_timer_count get_max_timers

    # The loop's time: the same Time throughout one callback, as in EM.
    def current_time
      Time.at(machine!("evma_get_current_loop_time").loop_time)
    end
  end
end
