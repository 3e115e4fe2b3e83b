# frozen_string_literal: true
# next_tick and schedule: callbacks queued from any thread, run on the reactor
# thread at the end of the current (or first) loop turn.
module EventMachine
  class << self
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
  end
end
