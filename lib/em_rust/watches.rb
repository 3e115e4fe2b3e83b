# frozen_string_literal: true
# Kernel watches and the keyboard as connections: watch_file (inotify),
# watch_process (pidfd) and open_keyboard (standard input).
module EventMachine
  class << self
    # Watches a file (inotify): the handler's file_modified / file_moved /
    # file_deleted run, and unbind when the watch ends.
    def watch_file(filename, handler = nil, *args)
      klass = klass_from_handler(FileWatch, handler, *args)
      sig = watch_filename(filename)
      conn = build_connection(klass, sig, args)
      conn.instance_variable_set(:@path, filename) # as EM: not yet set in initialize/post_init
      register(conn) { |c| yield c if block_given? }
    end

    # Stops a file watch; the native side delivers its unbind before this returns.
    def unwatch_filename(sig)
      machine!("evma_unwatch_filename").unwatch_filename(sig)
      nil
    end

    # Watches a process (pidfd): process_exited runs when it ends.
    def watch_process(pid, handler = nil, *args)
      pid = Integer(pid)
      klass = klass_from_handler(ProcessWatch, handler, *args)
      sig = watch_pid(pid)
      register(build_connection(klass, sig, args, { :@pid => pid })) { |c| yield c if block_given? }
    end

    def unwatch_pid(sig)
      machine!("evma_unwatch_pid").unwatch_pid(sig)
    end

    # Standard input as a connection (receive_data gets what is typed or piped).
    def open_keyboard(handler = nil, *args)
      klass = klass_from_handler(Connection, handler, *args)
      sig = read_keyboard
      register(build_connection(klass, sig, args)) { |conn| yield conn if block_given? }
    end
  end
end
