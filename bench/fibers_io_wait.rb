# frozen_string_literal: true
# One byte back and forth over a socketpair, n round trips. On em_rust two fibers
# write, IO#wait_readable and read (each wait an io_wait on the reactor); on the
# real eventmachine the same loop as EM.attach callbacks. em_rust also runs the
# callback version in this process (info: callbacks_rt_per_s, fibers_vs_callbacks;
# issue 11's target: fibers within 2x of callbacks).
require_relative "lib/loader"
require_relative "lib/net"
require "socket"

N = Bench.size(50_000, 2_000)

module Pinger
  def initialize(state) = (@state = state)
  def post_init = @state[:ping] ||= self
  def receive_data(_data)
    @state[:done] += 1
    return send_data("x") if @state[:done] < N

    @state[:t1] = Bench.now
    EM.stop
  end
end

module Ponger
  def receive_data(data) = send_data(data)
end

def with_callbacks
  a, b = UNIXSocket.pair
  state = { done: 0 }
  EM.run do
    Bench.em_deadline(Bench::TIMEOUT * 0.4, "io_wait callbacks")
    EM.attach(b, Ponger)
    EM.attach(a, Pinger, state)
    state[:t0] = Bench.now
    state[:ping].send_data("x")
  end
  raise "#{state[:done]} of #{N} round trips" unless state[:done] == N

  [a, b].each(&:close)
  N / (state[:t1] - state[:t0])
end

def with_fibers
  a, b = UNIXSocket.pair
  done = 0
  t0 = t1 = nil
  EM.run do
    Bench.em_deadline(Bench::TIMEOUT * 0.4, "io_wait fibers")
    EM.fiber do
      N.times do
        b.wait_readable
        b.write_nonblock(b.read_nonblock(1))
      end
    end
    EM.fiber do
      t0 = Bench.now
      N.times do
        a.write_nonblock("x")
        a.wait_readable
        a.read_nonblock(1)
        done += 1
      end
      t1 = Bench.now
      EM.stop
    end
  end
  raise "#{done} of #{N} round trips" unless done == N

  [a, b].each(&:close)
  N / (t1 - t0)
end

if Bench::IMPL == "em_rust"
  callbacks = with_callbacks
  fibers = with_fibers
  Bench.report({ rt_per_s: { value: fibers, unit: "rt/s", better: "higher", label: "round trips" } },
               { n: N, style: "fibers", callbacks_rt_per_s: callbacks.round, fibers_vs_callbacks: (fibers / callbacks).round(3) })
else
  Bench.report({ rt_per_s: { value: with_callbacks, unit: "rt/s", better: "higher", label: "round trips" } },
               { n: N, style: "callbacks" })
end
