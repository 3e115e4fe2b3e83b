# frozen_string_literal: true
# 10,000 waits of 10 ms, all at once: on em_rust 10,000 fibers (EM.fiber) each
# calling sleep(0.01); on the real eventmachine, which has no fiber scheduler, the
# same waits as 10,000 EM.add_timer(0.01) callbacks. Time from the first start to
# the last wake-up, in a fresh process (cold: Ruby maps the fiber stacks) and
# again (warm: Ruby reuses them). issue 11's target for the fibers: < 100 ms.
# The ceiling (info): the same number of plain Ruby fibers alive at once, made,
# suspended and resumed with no scheduler and no timers, plus the 10 ms.
require_relative "lib/loader"
require_relative "lib/net"

N = Bench.size(10_000, 1_000)

def waits
  done = 0
  t0 = t1 = nil
  EM.run do
    Bench.em_deadline(Bench::TIMEOUT * 0.4, "fibers sleep")
    finish = lambda do
      done += 1
      if done == N
        t1 = Bench.now
        EM.stop
      end
    end
    t0 = Bench.now
    if Bench::IMPL == "em_rust"
      N.times { EM.fiber { sleep 0.01; finish.call } }
    else
      N.times { EM.add_timer(0.01, &finish) }
    end
  end
  raise "#{done} of #{N} waits ended" unless done == N

  (t1 - t0) * 1000
end

def plain_fibers_ms
  t0 = Bench.now
  Array.new(N) { Fiber.new { Fiber.yield }.tap(&:resume) }.each(&:resume)
  (Bench.now - t0) * 1000
end

cold = waits
warm = waits
Bench.report({ elapsed_ms: { value: cold, unit: "ms", better: "lower", label: "#{N} × 10 ms wait, cold" },
               warm_ms: { value: warm, unit: "ms", better: "lower", label: "#{N} × 10 ms wait, warm" } },
             { n: N, style: Bench::IMPL == "em_rust" ? "fibers" : "timers",
               ceiling_warm_ms: (plain_fibers_ms + 10).round(1) })
