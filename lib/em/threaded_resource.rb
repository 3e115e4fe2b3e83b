# frozen_string_literal: true

require_relative "completion"

module EventMachine
  # Wraps a blocking resource (a synchronous client, say) in a dedicated
  # thread. #dispatch runs a block with the resource on that thread and reports
  # through an EM::Completion, whose callbacks run on the reactor. Fits EM::Pool.
  #
  # @example
  #   db = EM::ThreadedResource.new { SyncClient.new }
  #   db.dispatch { |client| client.query("...") }.callback { |rows| p rows }
  class ThreadedResource
    # The block builds the resource, on the calling thread.
    def initialize
      @resource = yield
      @running = true
      @jobs = ::Queue.new
      @thread = Thread.new { @jobs.pop.call while @running }
    end

    # Queues the block to run with the resource on the resource's thread.
    # @return [EM::Completion] succeeds with the block's value, or fails with
    #   the StandardError it raised
    def dispatch(&work)
      completion = EM::Completion.new
      @jobs << lambda do
        completion.succeed(work.call(@resource))
      rescue StandardError => e
        completion.fail(e)
      end
      completion
    end

    # Stops the thread once its current job is done (jobs not yet started are
    # dropped) and waits for it.
    def shutdown
      @running = false
      @jobs << -> {}
      @thread.join
    end
  end
end
