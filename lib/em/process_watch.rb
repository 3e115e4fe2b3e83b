# frozen_string_literal: true

module EventMachine
  # What EM.watch_process makes: a Connection told about one process.
  # Define process_exited (the watch then stops by itself) and, where the
  # platform reports it, process_forked, in the handler module or subclass.
  class ProcessWatch < Connection
    # @private Event names the reactor delivers as data.
    Cfork = "fork"
    Cexit = "exit"

    # @private
    def receive_data(data)
      case data
      when Cfork then process_forked
      when Cexit then process_exited
      end
    end

    # The pid given to EM.watch_process.
    # @return [Integer]
    def pid
      @pid
    end

    # Called when the process forked. Override it.
    def process_forked; end

    # Called when the process exited. Override it.
    def process_exited; end

    # Stops watching.
    def stop_watching
      EventMachine.unwatch_pid(@signature)
    end
  end
end
