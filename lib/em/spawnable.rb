# frozen_string_literal: true

module EventMachine
  # An Erlang-style process made by EM.spawn. Each #notify runs its block (as
  # method #call, so self is the process and arity is strict) on a later tick.
  # The block may return EM.yield { ... } to set the block for the next
  # notification, or EM.yield_and_notify { ... } to also run it straight away.
  class SpawnedProcess
    # Runs the process's block with +args+ on the next tick.
    def notify(*args)
      EM.next_tick do
        result = call(*args)
        if result.respond_to?(:pull_out_yield_block)
          block, run_now = result.pull_out_yield_block
          set_receiver(block)
          notify if run_now
        end
      end
    end
    alias resume notify
    alias run notify

    # Makes +blk+ the block that #notify runs.
    def set_receiver(blk)
      singleton_class.remove_method(:call) if singleton_class.method_defined?(:call, false)
      define_singleton_method(:call, blk)
    end
  end

  # @private What EM.yield and EM.yield_and_notify return to a spawned process.
  class YieldBlockFromSpawnedProcess
    def initialize(block, notify)
      @next = [block, notify]
    end

    # @return [Array(Proc, Boolean)] the next block and whether to run it at once
    def pull_out_yield_block
      @next
    end
  end

  # Makes a SpawnedProcess that runs the block each time it is notified.
  # @return [EM::SpawnedProcess]
  def self.spawn(&block)
    process = SpawnedProcess.new
    process.set_receiver(block)
    process
  end

  # From a spawned process's block: the block to run on the next notification.
  def self.yield(&block)
    YieldBlockFromSpawnedProcess.new(block, false)
  end

  # Like EM.yield, and notifies the process at once (with no arguments).
  def self.yield_and_notify(&block)
    YieldBlockFromSpawnedProcess.new(block, true)
  end
end
