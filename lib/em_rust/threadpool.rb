# frozen_string_literal: true
# EM.defer: operations run on a pool of Ruby threads; their results come back to
# the reactor thread through a queue that one next tick drains (a batch per tick).
# Worker threads wait for job ids on a native channel without holding the GVL; the
# jobs stay in a Hash here.
module EventMachine
  @threadpool = nil
  @threadpool_size = 20
  @defer_jobs = {}
  @defers_pending = 0
  @defer_ids = 0
  # Results on their way from pool threads to the reactor, drained in batches by
  # one tick (not a tick per result).
  @defer_results = Thread::Queue.new
  @defer_drain_scheduled = false
  # Guards the pool's creation against threads calling EM.defer at once (the first
  # calls race to create it; a second job queue would get jobs and no workers).
  @defer_lock = Thread::Mutex.new

  class << self
    attr_reader :threadpool
    attr_accessor :threadpool_size

    # Runs `op` (or the block) on a pool thread, then `callback.call(result)` on the
    # reactor thread. If `op` raises, `errback.call(error)` runs on the reactor
    # thread; with no errback the exception is raised in the main thread.
    def defer(op = nil, callback = nil, errback = nil, &blk)
      op ||= blk
      raise ArgumentError, "no operation given to EM.defer" unless callable?(op)
      raise ArgumentError, "defer callback must respond to #call" unless callback.nil? || callable?(callback)
      raise ArgumentError, "defer errback must respond to #call" unless errback.nil? || callable?(errback)
      spawn_threadpool unless @threadpool
      # No thread switch can happen inside these updates (no method call between
      # read and write), so they need no lock; creating the pool does.
      id = (@defer_ids += 1)
      @defer_jobs[id] = errback ? [op, callback, errback] : [op, callback]
      @defers_pending += 1
      @job_queue.push(id)
      nil
    end

    # EM.defer as a Deferrable: succeeds with the operation's result, or fails
    # with its exception. In a fiber: `EM.defer_deferrable { work }.wait`.
    def defer_deferrable(op = nil, &blk)
      op ||= blk
      raise ArgumentError, "no operation given to EM.defer_deferrable" unless callable?(op)

      DefaultDeferrable.new.tap do |d|
        defer(op, d.method(:succeed), d.method(:fail))
      end
    end

    def spawn_threadpool
      @defer_lock.synchronize { create_threadpool }
    end

    # True when no deferred operation is queued, running, or waiting to call back.
    def defers_finished?
      @defers_pending.zero?
    end

    private

    def callable?(code) = code.is_a?(Proc) || code.respond_to?(:call)

    # Under @defer_lock. @threadpool is set last: a thread that sees it set finds
    # the job queue set too.
    def create_threadpool
      @job_queue ||= JobQueue.new
      pool = @threadpool || []
      pool << spawn_worker(@job_queue.waiter) while pool.size < @threadpool_size.to_i
      @threadpool = pool
    end

    def defer_done
      @defers_pending -= 1
    end

    def spawn_worker(waiter)
      Thread.new do
        Thread.current.abort_on_exception = true # as EM's: an op without errback that raises ends the program
        Thread.current.report_on_exception = false
        while (id = waiter.take)
          op, callback, errback = @defer_jobs.delete(id)
          run_deferred(op, callback, errback)
        end
      end
    end

    def run_deferred(op, callback, errback)
      result = op.call
      finish_defer(callback, result)
    rescue Exception => e # rubocop:disable Lint/RescueException -- any error goes to the errback, as in EM
      unless errback
        defer_done
        raise
      end
      finish_defer(errback, e)
    end

    # On a pool thread. A push made before the drain clears the flag is taken by
    # that drain; one made after it sees the flag clear and schedules another.
    def finish_defer(receiver, value)
      @defer_results.push([receiver, value])
      return if @defer_drain_scheduled
      @defer_drain_scheduled = true
      next_tick(@drain_defer_results ||= method(:drain_defer_results))
    end

    # On the reactor: every result so far, in order. If a callback raises, the
    # rest wait for a drain of their own (the error goes where tick errors go).
    def drain_defer_results
      @defer_drain_scheduled = false
      results = @defer_results
      until results.empty?
        receiver, value = results.pop
        defer_done
        begin
          receiver&.call(value)
        rescue Exception # rubocop:disable Lint/RescueException -- re-raised
          unless results.empty? || @defer_drain_scheduled
            @defer_drain_scheduled = true
            next_tick(@drain_defer_results)
          end
          raise
        end
      end
    end

    def shut_down_threadpool
      pool = @defer_lock.synchronize do
        @job_queue&.close
        @job_queue = nil
        @defer_jobs.clear
        @defer_results.clear
        @defer_drain_scheduled = false
        @defers_pending = 0
        @threadpool.tap { @threadpool = nil }
      end
      return unless pool
      pool.each(&:exit)
      pool.each { |t| join_quietly(t) || t.exit }
    end

    # A worker that died of an op's exception re-raises it on join; that exception
    # already went to the main thread.
    def join_quietly(thread)
      thread.join(0.01)
    rescue Exception # rubocop:disable Lint/RescueException
      thread
    end
  end
end
