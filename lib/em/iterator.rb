# frozen_string_literal: true

module EventMachine
  # Iterates asynchronously: the block gets each item plus a handle, and the
  # next item is taken only once the handle is called (iter.next), so work can
  # finish in a later callback. Up to +concurrency+ items are in flight at once.
  #
  # @example
  #   EM::Iterator.new(urls, 10).each(proc { |url, iter| fetch(url) { iter.next } },
  #                                   proc { puts "all done" })
  class Iterator
    # A list proc returns this (the very object) to end the iteration.
    Stop = "EM::Stop"

    # @return [Integer] how many items may be in flight at once
    attr_reader :concurrency

    # +list+ is anything with #to_a (copied now) or a proc called for each next
    # item until it returns Stop.
    # @raise [ArgumentError] for a concurrency below 1 or an unusable list
    def initialize(list, concurrency = 1)
      raise ArgumentError, "concurrency must be bigger than zero" unless concurrency > 0

      if list.respond_to?(:call)
        @next_item = list
      elsif list.respond_to?(:to_a)
        items = list.to_a.dup
        @next_item = -> { items.empty? ? Stop : items.shift }
      else
        raise ArgumentError, "argument must be a proc or an array"
      end
      @concurrency = concurrency
      @started = false
      @ended = false
    end

    # Changes the concurrency; a rise starts the extra workers, a fall retires
    # workers as their current item finishes.
    def concurrency=(value)
      old = @concurrency
      @concurrency = value
      spawn_workers if value > old && @started && !@ended
    end

    # Calls +foreach+ (or the block) with (item, iter) for each item; iter.next
    # (or iter.call) ends that item. +after+ is called once every item is done.
    # Iteration starts on the next tick.
    # @return [self]
    # @raise [ArgumentError] without a proc or block
    # @raise [RuntimeError] when this iterator was already started
    def each(foreach = nil, after = nil, &blk)
      foreach ||= blk
      raise ArgumentError, "proc or block required for iteration" unless foreach
      raise RuntimeError, "cannot iterate over an iterator more than once" if @started || @ended

      @started = true
      @foreach = foreach
      @after = after
      @pending = 0 # items handed out and not yet finished
      @workers = 0
      spawn_workers
      self
    end

    # Like #each, but iter.return(value) ends an item; +after+ gets the values
    # in the order of the items.
    def map(foreach, after)
      index = -1
      inject([], proc { |results, item, iter|
        slot = (index += 1)
        handle = one_shot("already returned a value for this iteration") do |result|
          results[slot] = result
          iter.return(results)
        end
        foreach.call(item, returning(handle, "must call #return on a map iterator"))
      }, proc { |results| after.call(results) })
    end

    # Like #each with an accumulator: +foreach+ gets (memo, item, iter) and
    # iter.return(new_memo) ends the item; +after+ gets the final memo.
    def inject(memo, foreach, after)
      each(proc { |item, iter|
        handle = one_shot("already returned a value for this iteration") do |result|
          memo = result
          iter.next
        end
        foreach.call(memo, item, returning(handle, "must call #return on an inject iterator"))
      }, proc { after.call(memo) })
    end

    private

    # Starts one worker per tick until there are +concurrency+ of them.
    def spawn_workers
      starter = proc do
        if @workers < @concurrency && !@ended
          @workers += 1
          work
          EM.next_tick(starter)
        end
      end
      EM.next_tick(starter)
      nil
    end

    # A worker's step: start the next item, or retire when over the
    # concurrency or out of items.
    def work
      if @ended || @workers > @concurrency
        @workers -= 1
        return
      end

      item = @next_item.call
      if item.equal?(Stop)
        @ended = true
        @workers -= 1
        finish
      else
        @pending += 1
        handle = one_shot("already completed this iteration") do
          @pending -= 1
          @ended ? finish : EM.next_tick { work }
        end
        handle.define_singleton_method(:next) { |*args| call(*args) }
        @foreach.call(item, handle)
      end
    end

    def finish
      @after.call if @after && @ended && @pending.zero?
    end

    # A proc that runs +body+ once and raises RuntimeError(+message+) if called again.
    def one_shot(message, &body)
      done = false
      proc do |*args|
        raise RuntimeError, message if done

        done = true
        body.call(*args)
      end
    end

    # Gives a map/inject handle #return, and a #next that raises +misuse+.
    def returning(handle, misuse)
      handle.define_singleton_method(:return) { |*args| call(*args) }
      handle.define_singleton_method(:next) { raise NoMethodError, misuse }
      handle
    end
  end
end
