# frozen_string_literal: true
# periodic timer: a 1 ms periodic timer for ~1 s; fires achieved and the error of
# each interval between consecutive fires, |actual - 1 ms|, mean and p99.
require_relative "lib/loader"

interval = 0.001
duration = Bench.size(1.0, 0.2)
errors = []
EM.run do
  last = Bench.now
  EM.add_periodic_timer(interval) do
    t = Bench.now
    errors << ((t - last) - interval).abs * 1e6
    last = t
  end
  EM.add_timer(duration) { EM.stop }
end
raise "the periodic timer never fired" if errors.empty?

us = { unit: "µs", better: "lower" }
Bench.report({ fires: { value: errors.size, unit: "per #{duration} s", better: "higher", label: "fires" },
               mean_err_us: us.merge(value: errors.sum / errors.size, label: "interval error mean"),
               p99_err_us: us.merge(value: Bench.percentile(errors, 99), label: "interval error p99") },
             { interval_s: interval, duration_s: duration, ideal_fires: (duration / interval).round })
