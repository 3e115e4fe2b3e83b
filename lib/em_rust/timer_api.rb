# frozen_string_literal: true
# One-shot timers and the timer settings. EM::Timer and EM::PeriodicTimer are in em/timers.rb.
module EventMachine
  DEFAULT_MAX_TIMERS = 100_000
  @max_timers = nil
  @heartbeat_interval = 2.0

  class << self
    # @!method add_timer(interval, callable = nil, &block)
    #   Calls the callable or block once, after `interval` seconds (sub-millisecond
    #   resolution). Returns the timer's Integer signature, or nil without code.
    #   Native (ruby_api/machine.rs): it is the hottest timer path.

    def add_periodic_timer(interval, code = nil, &block)
      PeriodicTimer.new(interval, code || block)
    end

    # Cancels an EM::Timer / EM::PeriodicTimer, or a signature from add_timer.
    def cancel_timer(timer_or_sig)
      if timer_or_sig.respond_to?(:cancel)
        timer_or_sig.cancel
      else
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
      @max_timers = Integer(count)
    end
    alias set_max_timer_count set_max_timers

    # The cap in force: EM's default of 100,000 is reported, but only a cap set
    # with set_max_timers is enforced.
    def get_max_timers
      @max_timers || DEFAULT_MAX_TIMERS
    end
    alias get_max_timer_count get_max_timers

    # How often inactivity and pending-connect timeouts are checked (seconds).
    def heartbeat_interval
      machine!("evma_get_heartbeat_interval")
      @heartbeat_interval
    end
    alias get_heartbeat_interval heartbeat_interval

    def heartbeat_interval=(seconds)
      machine!("evma_set_heartbeat_interval")
      seconds = seconds.to_f
      raise ArgumentError, "heartbeat interval must be positive" unless seconds.positive?
      @heartbeat_interval = seconds
    end

    def set_heartbeat_interval(seconds)
      self.heartbeat_interval = seconds
      true
    end

    # EM's select() quantum in ms; kept for compatibility (timers here are exact).
    def set_quantum(milliseconds)
      set_timer_quantum(milliseconds.to_i)
    end

    def set_timer_quantum(milliseconds)
      machine!("evma_set_timer_quantum")
      @quantum = milliseconds
    end

    # The current time (a Time), while the reactor is initialized.
    def current_time
      machine!("evma_get_current_loop_time")
      Time.now
    end
  end
end
