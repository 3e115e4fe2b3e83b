# frozen_string_literal: true
# Child processes and kernel watches: popen, watch_file, watch_process and the
# keyboard, over the Machine's inotify, pidfd and socketpair descriptors.
require "shellwords"

module EventMachine
  @popen_pids = {}     # signature => child pid
  @popen_statuses = {} # signature => Process::Status, once reaped

  class << self
    # Runs `cmd` (a String, split like a shell does, or an Array of arguments) with
    # its stdin and stdout connected to a new connection.
    def popen(cmd, handler = nil, *args)
      argv = cmd.is_a?(Array) ? cmd.flatten.map(&:to_s) : Shellwords.split(cmd.to_s)
      raise RuntimeError, "no popen: empty command" if argv.empty?
      klass = klass_from_handler(Connection, handler, *args)
      sig, pid = machine!("evma_popen").popen(argv)
      @popen_pids[sig] = pid
      register(build_connection(klass, sig, args)) { |conn| yield conn if block_given? }
    end

    def get_subprocess_pid(sig) = @popen_pids[sig]

    def get_subprocess_status(sig) = @popen_statuses[sig]

    # Watches a file (inotify): the handler's file_modified / file_moved /
    # file_deleted run, and unbind when the watch ends.
    def watch_file(filename, handler = nil, *args)
      klass = klass_from_handler(FileWatch, handler, *args)
      sig = watch_filename(filename)
      conn = build_connection(klass, sig, args)
      conn.instance_variable_set(:@path, filename) # as EM: not yet set in initialize/post_init
      register(conn) { |c| yield c if block_given? }
    end

    # Stops a file watch; its unbind runs before this returns.
    def unwatch_filename(sig)
      machine!("evma_unwatch_filename").unwatch_filename(sig)
      event_unbound(sig, 0)
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

    private

    # Before a popen connection's unbind: collect the child's exit status (EM's
    # get_status works inside unbind). A child still running after its stdio
    # closed gets SIGTERM, then SIGKILL.
    def reap_child(sig)
      pid = @popen_pids[sig] or return
      status = wait_child(pid, 0.2) ||
               (signal_child(pid, "TERM") && wait_child(pid, 0.5)) ||
               (signal_child(pid, "KILL") && wait_child(pid, 2))
      @popen_statuses[sig] = status
    end

    def wait_child(pid, seconds)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
      loop do
        _, status = Process.wait2(pid, Process::WNOHANG)
        return status if status
        return nil if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        sleep 0.005
      end
    rescue Errno::ECHILD
      nil
    end

    def signal_child(pid, signal)
      Process.kill(signal, pid)
      true
    rescue Errno::ESRCH
      true
    end
  end
end
