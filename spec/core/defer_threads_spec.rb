# frozen_string_literal: true
require "spec_helper"

# EM.defer called from several threads at once, the first calls racing to create
# the pool: every callback runs exactly once.
RSpec.describe "EM.defer from many threads", timeout: 120 do
  def run_once(threads:, per_thread:)
    calls = Hash.new(0)
    expected = threads * per_thread
    done = 0
    EM.run do
      starters = Array.new(threads) do |t|
        Thread.new do
          per_thread.times do |i|
            EM.defer(proc { [t, i] }, proc { |key| calls[key] += 1; done += 1; EM.stop if done == expected })
          end
        end
      end
      EM.add_timer(bound(10)) { EM.stop }
      EM.add_shutdown_hook { starters.each(&:join) }
    end
    calls
  end

  it "runs every callback exactly once: 200 runs of 8 threads × 125 defers right after EM.run starts",
     em_rust_only: "real EM races on the first concurrent EM.defer too (NoMethodError on its not yet created thread queue)" do
    runs = ENV["GC_STRESS"] ? 2 : 200
    lost = 0
    repeated = 0
    runs.times do
      calls = run_once(threads: 8, per_thread: 125)
      lost += 1000 - calls.size
      repeated += calls.values.count { |n| n > 1 }
    end
    expect([lost, repeated]).to eq([0, 0])
    expect(EM.defers_finished?).to be(true)
  end
end
