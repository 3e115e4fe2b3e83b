# frozen_string_literal: true

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
  end

  # A bare Deferrable, for returning "a result later" without a class of your own.
  class DefaultDeferrable
    include Deferrable
  end
end
