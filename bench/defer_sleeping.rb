# frozen_string_literal: true
# defer sleeping: n EM.defer ops that each sleep 1 ms, all queued together, so all
# 20 pool threads are busy at once; ops/s (the ideal is 20 / 1 ms = 20,000 ops/s).
require_relative "lib/loader"

n = Bench.size(2_000, 200)
done = 0
t0 = t1 = nil
EM.run do
  op = proc { sleep 0.001; 1 }
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
