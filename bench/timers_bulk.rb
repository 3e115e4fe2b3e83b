# frozen_string_literal: true
# timers bulk: n one-shot timers with random delays in 0..100 ms (seeded, so both
# implementations get the same delays), all armed at once; timers/s from the first
# add_timer until the last one fired.
require_relative "lib/loader"

n = Bench.size(200_000, 10_000)
rng = Random.new(20_240_601)
delays = Array.new(n) { rng.rand * 0.1 }
fired = 0
t0 = t1 = armed = nil
EM.set_max_timers(n + 1_000) # EventMachine allows only 100,000 by default
EM.run do
  on_fire = proc do
    fired += 1
    if fired == n
      t1 = Bench.now
      EM.stop
    end
  end
  t0 = Bench.now
  delays.each { |d| EM.add_timer(d, on_fire) }
  armed = Bench.now
end
raise "fired #{fired} of #{n} timers" unless fired == n

Bench.report({ timers_per_s: { value: n / (t1 - t0), unit: "timers/s", better: "higher", label: "throughput" } },
             { n: n, elapsed_s: t1 - t0, arming_s: armed - t0 })
