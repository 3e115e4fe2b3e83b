# frozen_string_literal: true

module EventMachine
  # What EM.watch_file makes: a Connection whose callbacks report changes to
  # one file (inotify on Linux). Define them in the handler module or
  # subclass:
  #
  # - file_modified
  # - file_moved (the watch keeps following the file; #path does not change)
  # - file_deleted (the watch then stops by itself, and unbind follows; with
  #   inotify this comes only once no process has the file open)
  #
  # stop_watching ends the watch early (unbind follows).
  class FileWatch < Connection
    # @private Event names the reactor delivers as data.
    Cmodified = "modified"
    Cdeleted = "deleted"
    Cmoved = "moved"

    # @private
    def receive_data(data)
      case data
      when Cmodified then file_modified
      when Cdeleted then file_deleted
      when Cmoved then file_moved
      end
    end

    # The path given to EM.watch_file.
    # @return [String]
    def path
      @path
    end

    # Called when the file's content changed. Override it.
    def file_modified; end

    # Called when the file was deleted. Override it.
    def file_deleted; end

    # Called when the file was renamed or moved. Override it.
    def file_moved; end

    # Stops watching; raises EM::InvalidSignature if the watch is over.
    def stop_watching
      EventMachine.unwatch_filename(@signature)
    end
  end
end
