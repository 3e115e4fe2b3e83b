# frozen_string_literal: true
# defer sleeping: n EM.defer ops that each sleep 1 ms, all queued together, so all
# 20 pool threads are busy at once; ops/s (the ideal is 20 / 1 ms = 20,000 ops/s).
require_relative "lib/loader"
require_relative "lib/defer_run"

n = Bench.size(2_000, 200)
Bench.defer_throughput(n, proc { sleep 0.001; 1 })
