# frozen_string_literal: true
# Child preamble for every benchmark: loads the implementation EM_IMPL names
# (em_rust from this repo's lib/, or the real eventmachine), proves which one was
# loaded, arms a watchdog, and reports one JSON result line that the driver
# (bench/run.rb) collects. Run it directly to check the loading only:
#   EM_IMPL=eventmachine ruby bench/lib/loader.rb
require "json"
require_relative "../../spec/support/real_em_files"

module Bench
  ROOT = File.expand_path("../..", __dir__)
  IMPL = ENV.fetch("EM_IMPL", "em_rust")
  QUICK = ENV["BENCH_QUICK"] == "1"
  TIMEOUT = Float(ENV.fetch("BENCH_TIMEOUT", "120"))
  RESULT_PREFIX = "BENCH_RESULT "
  REAL_EM_FILES = ::REAL_EM_FILES

  module_function

  def load_impl!
    case IMPL
    when "em_rust"
      $LOAD_PATH.unshift File.join(ROOT, "lib")
      require "em_rust"
      real = $LOADED_FEATURES.grep(REAL_EM_FILES)
      abort "bench: em_rust not loaded (EventMachine::EM_RUST_VERSION missing)" unless defined?(EventMachine::EM_RUST_VERSION)
      abort "bench: the real eventmachine was loaded: #{real.join(', ')}" unless real.empty?
    when "eventmachine"
      # Never let this repo's lib/eventmachine.rb stand in for the real gem.
      $LOAD_PATH.reject! { |dir| File.expand_path(dir) == File.join(ROOT, "lib") }
      require "eventmachine"
      abort "bench: EM_IMPL=eventmachine but em_rust is loaded" if defined?(EventMachine::EM_RUST_VERSION)
      abort "bench: the real eventmachine is not loaded" if $LOADED_FEATURES.grep(REAL_EM_FILES).empty?
    else
      abort "bench: EM_IMPL must be em_rust or eventmachine (got #{IMPL.inspect})"
    end
  end

  def loaded
    if defined?(EventMachine::EM_RUST_VERSION)
      "em_rust #{EventMachine::EM_RUST_VERSION}"
    else
      "eventmachine #{EventMachine::VERSION}"
    end
  end

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # The full size from the issue, or a small one for BENCH_QUICK=1 smoke runs.
  def size(full, quick) = QUICK ? quick : full

  # Nearest-rank percentile of an unsorted array.
  def percentile(values, p)
    sorted = values.sort
    sorted[((sorted.size - 1) * p / 100.0).round]
  end

  # Peak resident set size of this process (VmHWM), in MB.
  def peak_rss_mb
    kb = File.read("/proc/self/status")[/^VmHWM:\s+(\d+)\s+kB/, 1]
    kb ? kb.to_i / 1024.0 : nil
  end

  # A benchmark whose reactor never returns still ends: the watchdog thread
  # exits the process (the driver also kills children that outlive its limit).
  def watchdog!
    Thread.new do
      sleep(TIMEOUT * 0.95)
      $stderr.puts "bench: #{File.basename($PROGRAM_NAME)} exceeded #{TIMEOUT * 0.95}s, giving up"
      abort!(3)
    end
  end

  # What a benchmark started (a server process) and must stop also when it gives
  # up: exit! skips ensure and at_exit.
  def on_abort(&cleanup) = (@on_abort ||= []) << cleanup

  def abort!(status)
    (@on_abort || []).each { |cleanup| cleanup.call rescue nil } # rubocop:disable Style/RescueModifier
    exit!(status)
  end

  # metrics: { key => { value:, unit:, better: "higher"|"lower", label: } }
  # info: anything else worth keeping (sizes, elapsed time).
  def report(metrics, info = {})
    metrics = metrics.merge(
      peak_rss_mb: { value: peak_rss_mb, unit: "MB", better: "lower", label: "peak RSS" }
    )
    result = { bench: File.basename($PROGRAM_NAME, ".rb"), impl: IMPL, loaded: loaded,
               quick: QUICK, metrics: metrics, info: info }
    $stdout.puts RESULT_PREFIX + JSON.generate(result)
    $stdout.flush
  end
end

Bench.load_impl!
if $PROGRAM_NAME == __FILE__
  puts "#{Bench::IMPL}: loaded #{Bench.loaded}"
else
  Bench.watchdog!
end
