# frozen_string_literal: true
# next_tick chain: each tick schedules the next one; ops/s.
require_relative "lib/loader"

n = Bench.size(1_000_000, 20_000)
count = 0
t0 = t1 = nil
EM.run do
  tick = proc do
    count += 1
    if count < n
      EM.next_tick(tick)
    else
      t1 = Bench.now
      EM.stop
    end
  end
  t0 = Bench.now
  EM.next_tick(tick)
end
raise "ran #{count} of #{n} ticks" unless count == n

Bench.report({ ops_per_s: { value: n / (t1 - t0), unit: "ops/s", better: "higher", label: "throughput" } },
             { n: n, elapsed_s: t1 - t0 })
