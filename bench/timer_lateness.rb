# frozen_string_literal: true
# timer lateness: n one-shot timers at 10 ms, one after another (each armed from the
# previous one's callback); lateness = actual - requested delay on CLOCK_MONOTONIC.
require_relative "lib/loader"

n = Bench.size(1_000, 50)
delay = 0.010
lateness = []
EM.run do
  arm = proc do
    armed_at = Bench.now
    EM.add_timer(delay) do
      lateness << (Bench.now - armed_at - delay) * 1e6
      lateness.size < n ? arm.call : EM.stop
    end
  end
  arm.call
end
raise "fired #{lateness.size} of #{n} timers" unless lateness.size == n

us = { unit: "µs", better: "lower" }
Bench.report({ p50_us: us.merge(value: Bench.percentile(lateness, 50), label: "lateness p50"),
               p99_us: us.merge(value: Bench.percentile(lateness, 99), label: "lateness p99") },
             { n: n, delay_s: delay, min_us: lateness.min, max_us: lateness.max })
