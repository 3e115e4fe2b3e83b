# frozen_string_literal: true

require_relative "callback"
require_relative "deferrable"
require_relative "queue"

module EventMachine
  # A pool of resources (connections, workers) shared by queued jobs. #perform
  # waits for a free resource, calls the job with it, and expects a deferrable
  # back; when that succeeds the resource returns to the pool, when it fails
  # the #on_error handler (or, without one, the pool) takes it back.
  #
  # @example
  #   pool = EM::Pool.new
  #   4.times { pool.add(Client.new) }
  #   pool.perform { |client| client.get("/") } # returns a deferrable
  class Pool
    def initialize
      @resources = EM::Queue.new
      @removed = []
      @contents = []
      @on_error = nil
    end

    # Puts a resource in the pool.
    def add(resource)
      @contents << resource
      requeue(resource)
    end

    # Takes a resource out of the pool; one in use is dropped when it comes back.
    def remove(resource)
      @contents.delete(resource)
      @removed << resource
    end

    # @return [Array] a copy of the pool's resources, for inspection only
    def contents
      @contents.dup
    end

    # Sets the handler called with a resource whose job's deferrable failed. It
    # owns the resource from then on and must #add it again to keep it.
    def on_error(*a, &b)
      @on_error = EM::Callback(*a, &b)
    end

    # Queues a job (anything EM::Callback accepts) to be called with the next
    # free resource; it must return an EM::Deferrable.
    # @raise [ArgumentError] from the reactor when a job returns something else
    def perform(*a, &b)
      job = EM::Callback(*a, &b)
      @resources.pop do |resource|
        if removed?(resource)
          @removed.delete(resource)
          perform(job)
        else
          process(job, resource)
        end
      end
    end
    alias reschedule perform

    # @return [Integer] jobs waiting for a resource
    def num_waiting
      @resources.num_waiting
    end

    # Whether the resource was removed while in use and has not come back yet.
    def removed?(resource)
      @removed.include?(resource)
    end

    protected

    def requeue(resource)
      @resources.push(resource)
    end

    def failure(resource)
      if @on_error
        @contents.delete(resource)
        @on_error.call(resource)
        @removed.delete(resource) # the handler decides, not an old #remove
      else
        requeue(resource)
      end
    end

    def completion(deferrable, resource)
      deferrable.callback { requeue(resource) }
      deferrable.errback { failure(resource) }
    end

    def process(job, resource)
      begin
        deferrable = job.call(resource)
        raise ArgumentError, "deferrable expected from work" unless deferrable.is_a?(EM::Deferrable)
      rescue StandardError
        failure(resource)
        raise
      end
      completion(deferrable, resource)
    end
  end
end
