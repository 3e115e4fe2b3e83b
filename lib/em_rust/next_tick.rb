# frozen_string_literal: true
# next_tick and schedule: callbacks queued from any thread, run on the reactor
# thread at the end of the current (or first) loop turn.
module EventMachine
  class << self
    # Queues a callable to run on the next turn of the loop; works before EM.run
    # and from any thread.
    def next_tick(pr = nil, &block)
      raise ArgumentError, "no proc or block given" unless (pr && pr.respond_to?(:call)) || block
      @next_tick_queue << (pr || block)
      @machine&.signal_loopbreak
      nil
    end

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
  end
end
