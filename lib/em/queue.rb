# frozen_string_literal: true

require_relative "callback"

module EventMachine
  # A FIFO queue whose work happens on the reactor thread: #push and #pop may be
  # called from any thread; they act at once on the reactor thread and on the
  # next tick from others. #pop hands one item to its callback, waiting for a
  # #push when the queue is empty.
  #
  # @example
  #   q = EM::Queue.new
  #   q.push(:a, :b)
  #   q.pop { |item| p item }
  class Queue
    def initialize
      @items = []
      @waiters = [] # pop callbacks waiting for an item, oldest first
    end

    # Calls the callback (see EM::Callback) with the next item, now if one is
    # queued, else when one is pushed.
    # @return [nil]
    def pop(*a, &b)
      cb = EM::Callback(*a, &b)
      EM.schedule do
        if @items.empty?
          @waiters << cb
        else
          cb.call(@items.shift)
        end
      end
      nil
    end

    # Appends +items+, handing them to waiting #pop callbacks first.
    def push(*items)
      EM.schedule do
        @items.concat(items)
        @waiters.shift.call(@items.shift) until @items.empty? || @waiters.empty?
      end
    end
    alias << push

    # @return [Boolean] a peek: pushes from other threads land on the next tick
    def empty?
      @items.empty?
    end

    # @return [Integer] items queued (a peek, like #empty?)
    def size
      @items.size
    end

    # @return [Integer] pop callbacks waiting for an item
    def num_waiting
      @waiters.size
    end
  end
end
