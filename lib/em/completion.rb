# frozen_string_literal: true

require_relative "deferrable"
require_relative "callback"

module EventMachine
  # A callback container with named states. #succeed and #fail enter the two
  # completion states; #change_state enters any other. Blocks registered with
  # #stateback(state) run when that state is entered (or at once if it is the
  # current one); #completion blocks run on entering either completion state,
  # after which every pending callback and errback is dropped.
  #
  # Entering a state runs its blocks through EM.schedule: inline on the reactor
  # thread, on the next tick from any other thread. Registering a block for the
  # current state runs it inline.
  class Completion
    # Every Deferrable method is redefined below; the include makes
    # kind_of?(EM::Deferrable) true, which EM::Pool checks.
    include EventMachine::Deferrable

    # @return [Symbol] the current state, :unknown until one is entered
    attr_reader :state
    # @return [Array] the arguments given when the current state was entered
    attr_reader :value

    def initialize
      @state = :unknown
      @value = []
      @callbacks = Hash.new { |hash, state| hash[state] = [] }
      @timeout_timer = nil
    end

    # Enters :succeeded with +args+ as the value.
    def succeed(*args)
      change_state(:succeeded, *args)
    end
    alias set_deferred_success succeed

    # Enters :failed with +args+ as the value.
    def fail(*args)
      change_state(:failed, *args)
    end
    alias set_deferred_failure fail

    # Registers a block (or anything EM::Callback accepts) for +state+. Once
    # completed, blocks for other states are ignored, except :completed ones.
    # @return [self]
    def stateback(state, *a, &b)
      if state == :completed || !completed? || state == @state
        @callbacks[state] << EM::Callback(*a, &b)
      end
      fire_current_state
      self
    end

    # A stateback for :succeeded.
    def callback(*a, &b)
      stateback(:succeeded, *a, &b)
    end

    # A stateback for :failed.
    def errback(*a, &b)
      stateback(:failed, *a, &b)
    end

    # A stateback for :completed: runs on success or failure.
    def completion(*a, &b)
      stateback(:completed, *a, &b)
    end

    # Enters +state+ with +args+ as the value and runs its blocks (see class doc).
    def change_state(state, *args)
      @value = args
      @state = state
      EM.schedule { fire_current_state }
    end
    alias set_deferred_status change_state

    # Whether the current state is one of #completion_states.
    def completed?
      completion_states.include?(state)
    end

    # The states that complete this object; override to add more.
    def completion_states
      [:succeeded, :failed]
    end

    # Fails with +args+ unless completed within +seconds+. Replaces an earlier timeout.
    # @return [EM::Timer]
    def timeout(seconds, *args)
      cancel_timeout
      @timeout_timer = EM::Timer.new(seconds) { fail(*args) unless completed? }
    end

    # Cancels a pending #timeout, if any.
    # @return [nil]
    def cancel_timeout
      timer = @timeout_timer
      @timeout_timer = nil
      timer&.cancel
      nil
    end

    # Removes a pending errback. Only the very object registered can be removed,
    # so an (object, method) pair never can.
    def cancel_errback(*a, &b)
      @callbacks[:failed].delete(EM::Callback(*a, &b))
    end

    # Removes a pending callback; see #cancel_errback.
    def cancel_callback(*a, &b)
      @callbacks[:succeeded].delete(EM::Callback(*a, &b))
    end

    private

    # Runs (and forgets) the blocks of the current state; on completion also the
    # :completed blocks, then drops every completion state's leftovers.
    def fire_current_state
      drain_state(state)
      return unless completed?

      drain_state(:completed)
      completion_states.each { |s| @callbacks[s].clear }
      cancel_timeout
    end

    def drain_state(name)
      list = @callbacks[name]
      while (block = list.shift)
        block.call(*value)
      end
    end
  end
end
