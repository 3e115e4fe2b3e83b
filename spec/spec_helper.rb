# frozen_string_literal: true
# Loads either em_rust (default) or the real eventmachine (EM_IMPL=eventmachine),
# proves which one was loaded, and puts a time limit on every example.
require "timeout"

EM_IMPL = (ENV["EM_IMPL"] || "em_rust").freeze
require_relative "support/real_em_files"

case EM_IMPL
when "em_rust"
  $LOAD_PATH.unshift File.expand_path("../lib", __dir__)
  require "em_rust"
  # EM_CALLBACKS_IN_FIBERS=1: the suite with every callback in a fiber (issue 11).
  EM.callbacks_in_fibers = true if ENV["EM_CALLBACKS_IN_FIBERS"]
when "eventmachine"
  # RSpec puts ./lib on the load path; the real gem must not find our eventmachine.rb.
  project_lib = File.expand_path("../lib", __dir__)
  $LOAD_PATH.reject! { |dir| File.expand_path(dir) == project_lib }
  require "eventmachine"
else
  abort "EM_IMPL must be em_rust or eventmachine (got #{EM_IMPL.inspect})"
end

Dir[File.join(__dir__, "support", "**", "*.rb")].sort.each { |f| require f }

module ImplCheck
  module_function

  def em_rust? = EM_IMPL == "em_rust"

  # Raises unless the implementation under test is the one EM_IMPL names.
  def verify!
    real = $LOADED_FEATURES.grep(REAL_EM_FILES)
    if em_rust?
      raise "em_rust not loaded: EventMachine::EM_RUST_VERSION missing" unless defined?(EventMachine::EM_RUST_VERSION)
      raise "the real eventmachine was loaded: #{real.join(', ')}" unless real.empty?
    else
      raise "EM_IMPL=eventmachine but em_rust is loaded" if defined?(EventMachine::EM_RUST_VERSION)
      raise "the real eventmachine is not loaded" if real.empty?
    end
  end
end

ImplCheck.verify!
$stderr.puts(ImplCheck.em_rust? ? "Testing em_rust #{EventMachine::EM_RUST_VERSION}" : "Testing the real eventmachine #{EventMachine::VERSION}")

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.filter_run_when_matching :focus
  config.include(Module.new { def em_rust? = ImplCheck.em_rust? })

  # Every example has a time limit: a hung reactor fails its spec, never CI.
  # GC.stress makes everything ~100x slower, so the limit scales with it.
  limit = Float(ENV.fetch("SPEC_TIMEOUT", ENV["GC_STRESS"] ? "120" : "10"))
  config.around(:each) do |example|
    limit_here = example.metadata[:timeout] ? example.metadata[:timeout] * (ENV["GC_STRESS"] ? 12 : 1) : limit
    Timeout.timeout(limit_here, Timeout::Error, "example exceeded #{limit_here}s") do
      GC.stress = true if ENV["GC_STRESS"]
      begin
        example.run
      ensure
        GC.stress = false
      end
    end
  end

  # An example that set EM.error_handler and failed before removing it must not
  # make later examples' errors vanish (EM.error_handler with nothing removes it).
  config.after(:each) { EM.error_handler }

  # Specs of behaviour EventMachine lacks run only on em_rust; the reason is written
  # in the tag: `em_rust_only: "EM has no sub-millisecond timers"`.
  config.before(:each) do |example|
    reason = example.metadata[:em_rust_only]
    skip("real eventmachine: #{reason}") if reason && !ImplCheck.em_rust?
  end

  # The other side of a deliberate difference: what the real EventMachine does,
  # checked on it (`real_em_only: "em_rust stops counting at once"`).
  config.before(:each) do |example|
    reason = example.metadata[:real_em_only]
    skip("em_rust differs on purpose: #{reason}") if reason && ImplCheck.em_rust?
  end

  # `blocks_the_loop: "reason"`: the example blocks inside a callback on purpose
  # and expects the loop to wait; with EM_CALLBACKS_IN_FIBERS the call suspends
  # the callback instead, as it should, so the example does not apply.
  config.before(:each) do |example|
    reason = example.metadata[:blocks_the_loop]
    skip("callbacks in fibers: #{reason}") if reason && EM.respond_to?(:callbacks_in_fibers?) && EM.callbacks_in_fibers?
  end

  # A spec that leaves the reactor running would poison the next one.
  config.after(:each) do
    if EM.reactor_running? && !EM.reactor_thread?
      EM.stop rescue nil
    end
  end

  config.after(:suite) { ImplCheck.verify! }
end
