# frozen_string_literal: true
require "etc"

# EventMachine's signature-level module functions that the friendly API is built
# on (EM's C extension exports them; gems such as rainbows call them directly):
# each returns a signature and leaves building the Connection, and registering it
# in `@conns`, to the caller. Plus `event_callback`, EM's Ruby-level event
# dispatcher, for code that feeds events by hand.
module EventMachine
  @watch_sigs = {} # signatures attached in watch mode (known before any Connection exists)

  class << self
    # Makes a descriptor a connection of the reactor: watch_mode true for
    # readiness only (EM.watch), false for reading and writing (EM.attach).
    def attach_fd(fd, watch_mode)
      watch = watch_mode ? true : false
      FiberScheduler.release_fd(Integer(fd)) # a fiber's idle watch of it would hold the poll slot
      sig = machine!("evma_attach_fd").attach_fd(Integer(fd), watch)
      @watch_sigs[sig] = true if watch
      sig
    end

    # Accepts on an existing listening socket's descriptor; the caller puts the
    # handler in @acceptors[sig].
    def attach_sd(fd)
      FiberScheduler.release_fd(Integer(fd))
      machine!("evma_attach_sd").attach_sd(Integer(fd))
    end

    # A TCP connect (returns at once). The port is taken as EM's C does: its low
    # 16 bits.
    def connect_server(server, port)
      machine!("evma_connect_to_server").connect_server(server.to_s, Integer(port) & 0xFFFF)
    end

    def bind_connect_server(bind_addr, bind_port, server, port)
      machine!("evma_connect_to_server")
        .bind_connect_server(bind_addr.to_s, Integer(bind_port || 0) & 0xFFFF, server.to_s, Integer(port) & 0xFFFF)
    end

    def connect_unix_server(path)
      machine!("evma_connect_to_unix_server").connect_unix_server(path.to_s)
    end

    def open_udp_socket(address, port)
      machine!("evma_open_datagram_socket").open_udp_socket(address.to_s, Integer(port) & 0xFFFF)
    end

    # Starts a child on a socketpair. cmd is EM's argument vector: the program,
    # then its argv (argv[0] first), as EM.popen builds it.
    def invoke_popen(cmd)
      raise TypeError, "wrong argument type #{cmd.class} (expected Array)" unless cmd.is_a?(Array)
      words = cmd.map(&:to_s)
      raise RuntimeError, "no popen: empty command" if words.empty?
      # The native popen runs argv[0] as the program; EM's vector repeats it.
      argv = words.size >= 2 ? [words[0], *words[2..]] : words
      sig, pid = machine!("evma_popen").popen(argv)
      @popen_pids[sig] = pid
      sig
    end

    # Standard input as a connection (what EM.open_keyboard builds on).
    def read_keyboard
      machine!("evma_open_keyboard").attach_fd($stdin.fileno, false)
    end

    # Watches a file (modified / moved / deleted arrive as FileWatch data).
    def watch_filename(filename)
      machine!("evma_watch_filename").watch_filename(filename.to_s)
    rescue SystemCallError => e
      raise Unsupported, "error registering file #{filename} for watching: #{e.message.sub(/ - .*/, '')}"
    end

    # Watches a process (fork / exit arrive as ProcessWatch data).
    def watch_pid(pid)
      pid = Integer(pid)
      machine!("evma_watch_pid").watch_pid(pid)
    rescue SystemCallError => e
      raise Unsupported, "no such process #{pid}: #{e.message.sub(/ - .*/, '')}"
    end

    # Was sig attached in watch mode? As in EM, a signature the reactor does not
    # know answers true.
    def watch_only?(sig)
      return true unless @machine&.known?(sig)
      is_watch_only(sig)
    end

    # A one-shot timer of `milliseconds` (EM truncates to whole ms) with no
    # callback yet: the caller stores one in @timers[sig], as EM.add_timer does.
    # If none is there when it fires, the reactor raises UnknownTimerFired.
    def add_oneshot_timer(milliseconds)
      ms = Float(milliseconds).to_i
      sig = nil
      # Stands in until the caller stores the callback (the reactor takes
      # @timers[sig] when the timer fires).
      sig = add_timer(ms / 1000.0, -> { raise UnknownTimerFired, "no such timer: #{sig}" })
      sig
    end

    # EM 1.2 keeps this name for the reactor loop.
    def run_machine_without_threads
      run_machine
    end

    # Drops root: setuid(2) to the user's uid. As in EM this is a security step,
    # so failure ends the program at once (no exception to rescue, no at_exit).
    def setuid_string(username)
      name = String.try_convert(username) or raise TypeError, "no implicit conversion of #{username.class} into String"
      entry = begin
        Etc.getpwnam(name)
      rescue ArgumentError
        nil
      end
      setuid_fatal("setuid_string failed: unknown username") unless entry
      begin
        Process::Sys.setuid(entry.uid)
      rescue SystemCallError
        setuid_fatal("setuid_string failed: no setuid")
      end
      nil
    end

    def set_effective_user(username)
      setuid_string(username)
    end

    # EventMachine declares this, but its C++ has no file writer behind it
    # (`_write_file`): calling it raises NoMethodError there; so it does here.
    def _open_file_for_writing(filename, handler = nil)
      klass_from_handler(Connection, handler)
      raise NoMethodError.new("undefined method `_write_file' for EventMachine:Module " \
                              "(EventMachine's _open_file_for_writing has no file writer: #{filename})", :_write_file)
    end

    # EventMachine's event dispatcher: delivers one event (opcode: TimerFired ..
    # SslVerify) for signature sig with its data, as EM's reactor would. An event
    # for a signature nothing is registered under raises ConnectionNotBound
    # (NoHandlerForAcceptedConnection, UnknownTimerFired); an unknown opcode is
    # ignored.
    def event_callback(sig, opcode, data)
      case opcode
      when ConnectionUnbound
        unless @conns.key?(sig) || @acceptors.key?(sig)
          raise ConnectionNotBound, "received ConnectionUnbound for an unknown signature: #{sig}"
        end
        event_unbound(sig, data.to_i)
      when ConnectionAccepted
        klass, args, block = @acceptors[sig]
        raise NoHandlerForAcceptedConnection unless klass
        conn = build_connection(klass, data, args)
        @conns[data] = conn
        block&.call(conn)
        conn
      when ConnectionCompleted
        bound(sig, "received ConnectionCompleted for unknown signature: #{sig}").connection_completed
      when SslHandshakeCompleted
        bound(sig, "received SslHandshakeCompleted for unknown signature: #{sig}").ssl_handshake_completed
      when SslVerify
        conn = bound(sig, "received SslVerify for unknown signature: #{sig}")
        conn.close_connection if conn.ssl_verify_peer(data) == false
      when TimerFired
        fire_timer_event(data)
      when ConnectionData
        bound(sig, "received data #{data} for unknown signature: #{sig}").receive_data(data)
      when LoopbreakSignalled
        run_deferred_callbacks
      when ConnectionNotifyReadable
        bound(sig, nil).notify_readable
      when ConnectionNotifyWritable
        bound(sig, nil).notify_writable
      end
    end

    private

    def bound(sig, message)
      @conns[sig] or raise(message ? ConnectionNotBound.new(message) : ConnectionNotBound)
    end

    def fire_timer_event(sig)
      callback = @timers.delete(sig)
      return if callback == false # EM's mark of a cancelled timer
      raise UnknownTimerFired, "timer data: #{sig}" unless callback
      @machine&.cancel_timer(sig) # fired by hand: the reactor must not fire it again
      callback.call
    end

    def setuid_fatal(message)
      $stderr.puts(message)
      $stderr.flush
      Kernel.exit!(1)
    end

    # Forgets a watch-mode signature once its connection has gone.
    def forget_watch(sig)
      @watch_sigs.delete(sig)
    end
  end
end
