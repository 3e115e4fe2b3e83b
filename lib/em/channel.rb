# frozen_string_literal: true

require_relative "callback"

module EventMachine
  # Publish/subscribe: every item pushed is passed to every subscriber. Safe to
  # use from any thread; delivery and (un)subscription happen on the reactor
  # thread, at once when called there, else on the next tick.
  #
  # @example
  #   channel = EM::Channel.new
  #   sid = channel.subscribe { |msg| p msg }
  #   channel.push("hello")
  #   channel.unsubscribe(sid)
  class Channel
    def initialize
      @subs = {}
      @uid = 0
      @uid_lock = Mutex.new
    end

    # @return [Integer] current subscribers
    def num_subscribers
      @subs.size
    end

    # Adds a subscriber (anything EM::Callback accepts).
    # @return [Integer] its id, for #unsubscribe; ids count up from 1
    def subscribe(*a, &b)
      id = @uid_lock.synchronize { @uid += 1 }
      cb = EM::Callback(*a, &b)
      EM.schedule { @subs[id] = cb }
      id
    end

    # Removes the subscriber with this id.
    def unsubscribe(id)
      EM.schedule { @subs.delete(id) }
    end

    # Passes each item, in order, to every subscriber.
    def push(*items)
      EM.schedule do
        # Snapshot per item: a subscriber may (un)subscribe while being called.
        items.each { |item| @subs.values.each { |sub| sub.call(item) } }
      end
    end
    alias << push

    # Receives exactly one item: the next one pushed after this takes effect.
    def pop(*a, &b)
      cb = EM::Callback(*a, &b)
      EM.schedule do
        id = subscribe do |*args|
          unsubscribe(id)
          cb.call(*args)
        end
      end
    end
  end
end
