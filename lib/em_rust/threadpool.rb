# frozen_string_literal: true
# EM.defer: operations run on a pool of Ruby threads. A job is three values
# (op, callback, errback) pushed onto @defer_jobs plus a token on a native
# channel; each worker runs JobWaiter#work (ruby_api/jobs.rs), which waits for a
# token without the GVL, runs the op and pushes (receiver, value) onto
# @defer_results, which one next tick drains (a batch per tick). No per-job Hash
# entry or tuple.
module EventMachine
  @threadpool = nil
  @threadpool_size = 20
  @defer_jobs = []
  @defers_pending = 0
  @defer_results = []
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
      # One push of three values is atomic (a C call), and no thread switch can
      # happen inside the counter update, so they need no lock; creating the pool does.
      @defer_jobs.push(op, callback, errback)
      @defers_pending += 1
      @job_queue.push
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

    # An op that raises with no errback ends its worker (JobWaiter#work raises it).
    def spawn_worker(waiter)
      @drain_defer_results ||= method(:drain_defer_results)
      Thread.new do
        Thread.current.abort_on_exception = true # as EM's: an op without errback that raises ends the program
        Thread.current.report_on_exception = false
        waiter.work(@defer_jobs, @defer_results, self, @drain_defer_results)
      rescue Exception # rubocop:disable Lint/RescueException -- re-raised
        defer_done
        raise
      end
    end

    # On the reactor: every result so far, in order. If a callback raises, the
    # rest wait for a drain of their own (the error goes where tick errors go).
    # Workers schedule a drain only when they push onto an empty Array.
    def drain_defer_results
      results = @defer_results
      until results.empty?
        receiver = results.shift
        value = results.shift
        defer_done
        receiver&.call(value)
      end
    rescue Exception # rubocop:disable Lint/RescueException -- re-raised
      next_tick(@drain_defer_results) unless results.empty?
      raise
    end

    def shut_down_threadpool
      pool = @defer_lock.synchronize do
        @job_queue&.close
        @job_queue = nil
        @defer_jobs.clear
        @defer_results.clear
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
