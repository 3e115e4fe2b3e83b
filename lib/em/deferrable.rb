# frozen_string_literal: true
require "timeout"

module EventMachine
  # Mixin for an object whose outcome arrives later. Consumers attach blocks with
  # #callback (success) and #errback (failure); the producer settles it with
  # #succeed or #fail, passing the arguments the blocks receive.
  #
  # State lives in @deferred_status, @deferred_args, @callbacks and @errbacks
  # (pending blocks, newest first). Several gems read or reset these directly
  # (e.g. `@deferred_status = nil` to re-arm), so their names and shapes are API.
  module Deferrable
    autoload :Pool, File.expand_path("deferrable/pool.rb", __dir__)

    # Runs the block when the status becomes :succeeded, or at once if it already
    # is. Ignored after a failure.
    # @return [self] or nil without a block
    def callback(&block)
      return unless block

      @deferred_status ||= :unknown
      if @deferred_status == :succeeded
        block.call(*@deferred_args)
      elsif @deferred_status != :failed
        (@callbacks ||= []).unshift(block)
      end
      self
    end

    # Runs the block when the status becomes :failed, or at once if it already
    # is. Ignored after a success.
    # @return [self] or nil without a block
    def errback(&block)
      return unless block

      @deferred_status ||= :unknown
      if @deferred_status == :failed
        block.call(*@deferred_args)
      elsif @deferred_status != :succeeded
        (@errbacks ||= []).unshift(block)
      end
      self
    end

    # Forgets a pending callback. @return the block, or nil if it was not pending
    def cancel_callback(block)
      (@callbacks ||= []).delete(block)
    end

    # Forgets a pending errback. @return the block, or nil if it was not pending
    def cancel_errback(block)
      (@errbacks ||= []).delete(block)
    end

    # Sets the status (:succeeded, :failed, or anything else for "not settled")
    # and cancels any #timeout. On :succeeded the pending callbacks run, oldest
    # first, before this returns, and the errbacks are dropped; :failed is the
    # mirror image. A running block may set the status again: the blocks still
    # pending then run with the new arguments, each block running at most once.
    def set_deferred_status(status, *args)
      cancel_timeout
      @deferred_status = status
      @deferred_args = args
      case status
      when :succeeded
        while (block = @callbacks&.pop)
          block.call(*@deferred_args)
        end
        @errbacks&.clear
      when :failed
        while (block = @errbacks&.pop)
          block.call(*@deferred_args)
        end
        @callbacks&.clear
      end
    end

    # Fails with +args+ unless settled within +seconds+ (an EM::Timer).
    # Replaces an earlier timeout.
    # @return [self]
    def timeout(seconds, *args)
      cancel_timeout
      @deferred_timeout = EventMachine::Timer.new(seconds) { fail(*args) }
      self
    end

    # Cancels a pending #timeout, if any.
    # @return [nil]
    def cancel_timeout
      timer = @deferred_timeout
      @deferred_timeout = nil
      timer&.cancel
      nil
    end

    # set_deferred_status(:succeeded, *args)
    def succeed(*args)
      set_deferred_status(:succeeded, *args)
    end
    alias set_deferred_success succeed

    # set_deferred_status(:failed, *args)
    def fail(*args)
      set_deferred_status(:failed, *args)
    end
    alias set_deferred_failure fail

    # In a non-blocking fiber under a fiber scheduler (EM.fiber, Fiber.schedule
    # inside EM.run): suspends the fiber until this settles. Returns the callback's
    # value (several values: an Array); on failure raises the errback's value if
    # it is an Exception, else a DeferrableFailure carrying the values. With
    # +timeout+ (seconds) raises Timeout::Error and leaves the deferrable as it is.
    def wait(timeout = nil)
      fiber = Fiber.current
      scheduler = Fiber.scheduler
      why = if fiber.blocking?
              "a blocking fiber (the root fiber runs the reactor)"
            elsif scheduler.nil?
              "a thread without a fiber scheduler"
            elsif scheduler.is_a?(EventMachine::FiberScheduler) && !scheduler.ours?
              "a fiber EM's scheduler did not start (a plain Fiber.new blocks the reactor while it waits)"
            end
      raise FiberError, "Deferrable#wait suspends a non-blocking fiber (EM.fiber or Fiber.schedule); this is #{why}" if why

      outcome = nil
      waiting = false
      settle = ->(kind, values) do
        outcome = [kind, values]
        scheduler.unblock(self, fiber) if waiting
      end
      on_success = proc { |*values| settle.call(:succeeded, values) }
      on_failure = proc { |*values| settle.call(:failed, values) }
      callback(&on_success)
      errback(&on_failure)
      unless outcome
        waiting = true
        deadline = timeout && Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        begin
          until outcome
            left = deadline && deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
            break if left && left <= 0

            scheduler.block(self, left)
          end
        ensure
          waiting = false
          cancel_callback(on_success)
          cancel_errback(on_failure)
        end
      end
      raise Timeout::Error, "Deferrable#wait: not settled within #{timeout} s" unless outcome

      kind, values = outcome
      if kind == :succeeded
        values.size <= 1 ? values.first : values
      elsif values.size == 1 && values.first.is_a?(Exception)
        raise values.first
      else
        raise DeferrableFailure.new(values)
      end
    end
  end

  # Deferrable#wait's error for a failure whose values are not one Exception.
  class DeferrableFailure < StandardError
    attr_reader :values

    def initialize(values)
      @values = values
      super("the deferrable failed with #{values.inspect}")
    end
  end

  # A bare Deferrable, for returning "a result later" without a class of your own.
  class DefaultDeferrable
    include Deferrable
  end
end
