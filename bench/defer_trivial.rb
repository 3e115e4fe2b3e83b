# frozen_string_literal: true
# defer trivial: n EM.defer ops that return at once, all queued together, with a
# callback on the reactor counting completions; ops/s.
require_relative "lib/loader"
require_relative "lib/defer_run"

n = Bench.size(100_000, 5_000)
Bench.defer_throughput(n, proc { 1 })
