# frozen_string_literal: true
# em_rust demo: timers, next_tick, defer and a Deferrable on the Rust reactor.
# Run with `bin/demo` (or `ruby -I lib examples/demo.rb` after `rake compile`).
require "em_rust"

def elapsed_ms(start) = ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - start) * 1000).round(2)

# A Deferrable that succeeds when a slow lookup (run on the thread pool) is done.
class Lookup
  include EM::Deferrable

  def start(key)
    EM.defer(-> { sleep 0.05; "value of #{key}" }, ->(value) { succeed(value) })
    timeout(1, "lookup of #{key} timed out")
    self
  end
end

puts "em_rust #{EM::EM_RUST_VERSION} (EventMachine API #{EM::VERSION}, #{EM.library_type}, epoll=#{EM.epoll?})"
start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
EM.next_tick { puts "#{elapsed_ms(start)} ms  next_tick queued before EM.run runs first" }

EM.run do
  EM.add_timer(0.010) { puts "#{elapsed_ms(start)} ms  one-shot timer (asked for 10 ms)" }

  ticks = 0
  EM.add_periodic_timer(0.020) do |_|
    ticks += 1
    puts "#{elapsed_ms(start)} ms  periodic timer, tick #{ticks}"
  end

  chain = 0
  step = proc { (chain += 1) < 100_000 ? EM.next_tick(step) : puts("#{elapsed_ms(start)} ms  100,000 chained next_ticks done") }
  EM.next_tick(step)

  EM.defer(-> { Thread.current.object_id }, lambda { |worker|
    puts "#{elapsed_ms(start)} ms  defer ran on a pool thread (#{worker != Thread.current.object_id}), callback on the reactor thread (#{EM.reactor_thread?})"
  })

  Lookup.new.start("answer").callback do |value|
    puts "#{elapsed_ms(start)} ms  Deferrable succeeded: #{value.inspect}"
  end.errback { |why| puts "failed: #{why}" }

  Thread.new do
    sleep 0.03
    EM.schedule { puts "#{elapsed_ms(start)} ms  EM.schedule from another thread woke the reactor" }
  end

  EM.add_shutdown_hook { puts "#{elapsed_ms(start)} ms  shutdown hook" }
  EM.add_timer(0.15) { EM.stop }
end
puts "EM.run returned after #{elapsed_ms(start)} ms"
