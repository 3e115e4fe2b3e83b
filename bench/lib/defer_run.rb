# frozen_string_literal: true
# The body of the defer benchmarks: queue n EM.defer(op) at once, count completions
# in a callback on the reactor, report ops/s from the first defer to the last callback.
module Bench
  def self.defer_throughput(n, op)
    done = 0
    t0 = t1 = nil
    EM.run do
      callback = proc do |result|
        done += result
        if done == n
          t1 = now
          EM.stop
        end
      end
      t0 = now
      n.times { EM.defer(op, callback) }
    end
    raise "completed #{done} of #{n} ops" unless done == n

    report({ ops_per_s: { value: n / (t1 - t0), unit: "ops/s", better: "higher", label: "throughput" } },
           { n: n, elapsed_s: t1 - t0, threadpool_size: EM.threadpool_size })
  end
end
