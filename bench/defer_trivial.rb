# frozen_string_literal: true
# defer trivial: n EM.defer ops that return at once, all queued together, with a
# callback on the reactor counting completions; ops/s.
require_relative "lib/loader"

n = Bench.size(100_000, 5_000)
done = 0
t0 = t1 = nil
EM.run do
  op = proc { 1 }
  callback = proc do |result|
    done += result
    if done == n
      t1 = Bench.now
      EM.stop
    end
  end
  t0 = Bench.now
  n.times { EM.defer(op, callback) }
end
raise "completed #{done} of #{n} ops" unless done == n

Bench.report({ ops_per_s: { value: n / (t1 - t0), unit: "ops/s", better: "higher", label: "throughput" } },
             { n: n, elapsed_s: t1 - t0, threadpool_size: EM.threadpool_size })
