# frozen_string_literal: true
# Timers, next_tick, defer, EM.schedule from a thread and a Deferrable.
module Demo
  # Succeeds when a slow lookup (run on the defer pool) is done.
  class Lookup
    include EM::Deferrable

    def start(key)
      EM.defer(-> { sleep 0.05; "value of #{key}" }, ->(value) { succeed(value) })
      timeout(1, "lookup of #{key} timed out")
      self
    end
  end

  module_function

  def reactor_basics
    EM.next_tick { log "next_tick queued before EM.run runs first" }
    EM.run do
      EM.add_timer(0.010) { log "one-shot timer (asked for 10 ms)" }
      ticks = 0
      EM.add_periodic_timer(0.020) { log "periodic timer, tick #{ticks += 1}" }

      chain = 0
      step = proc { (chain += 1) < 100_000 ? EM.next_tick(step) : log("100,000 chained next_ticks done") }
      EM.next_tick(step)

      EM.defer(-> { Thread.current }, lambda { |worker|
        log "defer ran on a pool thread (#{worker != Thread.current}), callback on the reactor thread (#{EM.reactor_thread?})"
      })
      Lookup.new.start("answer").callback { |value| log "Deferrable succeeded: #{value.inspect}" }
                                .errback { |why| log "Deferrable failed: #{why}" }
      Thread.new { sleep 0.03; EM.schedule { log "EM.schedule from another thread woke the reactor" } }
      EM.add_shutdown_hook { log "shutdown hook" }
      EM.add_timer(0.1) { EM.stop }
    end
  end
end
