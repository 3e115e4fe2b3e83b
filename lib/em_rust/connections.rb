# frozen_string_literal: true
# Servers, clients, attach/watch: EventMachine's module API over the Machine's
# connection functions. The Ruby objects live here (`@conns`, `@acceptors`); the
# Machine knows only signatures.
module EventMachine
  @conns = {}     # signature => Connection (the Machine holds this Hash)
  @acceptors = {} # server signature => [handler class, args, block(, io)] (thin reads it)

  class << self
    # Listens on host:port (TCP, IPv4 or IPv6), or on a Unix socket path when port
    # is nil or not a number. Returns the server's signature.
    # `reuse_port: true` (em_rust's own) listens with SO_REUSEPORT, so several
    # reactors (EM.fork_workers) can serve one port; docs/SCALING.md. Other keywords
    # reach the handler's initialize as a Hash, as they always did.
    def start_server(server, port = nil, handler = nil, *args, **opts, &block)
      reuse_port = opts.empty? ? false : opts.delete(:reuse_port) ? true : false
      args << opts unless opts.empty?
      port, handler, args = path_form(port, handler, args)
      klass = klass_from_handler(Connection, handler, *args)
      sig = port ? start_tcp_server(server, port, reuse_port) : start_unix_server(server)
      @acceptors[sig] = [klass, args, block]
      sig
    end

    def start_unix_domain_server(filename, *args, &block)
      start_server(filename, nil, *args, &block)
    end

    def start_unix_server(path)
      machine!("evma_create_unix_domain_server").start_unix_server(path.to_s)
    end

    def start_tcp_server(host, port, reuse_port = false)
      machine!("evma_create_tcp_server").start_tcp_server(host.to_s, Integer(port), reuse_port)
    end

    # Stops accepting; established connections stay open.
    def stop_server(signature)
      machine!("evma_stop_tcp_server").close_connection(signature, false)
    end
    alias stop_tcp_server stop_server

    # Serves connections accepted on an existing listening socket (IO or fd).
    def attach_server(sock, handler = nil, *args, &block)
      klass = klass_from_handler(Connection, handler, *args)
      fd = sock.respond_to?(:fileno) ? sock.fileno : sock
      sig = machine!("evma_attach_sd").attach_sd(fd)
      @acceptors[sig] = [klass, args, block, sock]
      sig
    end

    # Starts a connection to host:port and returns its Connection at once, before
    # the connect completes (connection_completed / unbind(Errno) say how it went).
    # A name that does not resolve raises EM::ConnectionError now.
    def connect(server, port = nil, handler = nil, *args, &blk)
      bind_connect(nil, nil, server, port, handler, *args, &blk)
    end

    def bind_connect(bind_addr, bind_port, server, port = nil, handler = nil, *args)
      port, handler, args = path_form(port, handler, args)
      klass = klass_from_handler(Connection, handler, *args)
      sig = start_connect(server, port, bind_addr, bind_port)
      conn = klass.allocate
      conn.instance_variable_set(:@em_rust_connect_host, server.to_s)
      register(build_connection(conn, sig, args)) { |c| yield c if block_given? }
    end

    def connect_unix_domain(socketname, *args, &blk)
      connect(socketname, nil, *args, &blk)
    end

    # Reconnects a Connection object that has unbound (same object, new signature);
    # one that is still connected is returned as it is.
    def reconnect(server, port, handler)
      raise RuntimeError, "invalid handler" unless handler.is_a?(Connection)
      return handler if @conns[handler.signature].equal?(handler)
      sig = start_connect(server, port, nil, nil)
      handler.signature = sig
      handler.instance_variable_set(:@em_rust_connect_host, server.to_s) # the name TLS checks
      @conns[sig] = handler
      handler
    end

    def open_datagram_socket(address, port, handler = nil, *args)
      klass = klass_from_handler(Connection, handler, *args)
      sig = machine!("evma_open_datagram_socket").open_udp_socket(address.to_s, Integer(port))
      register(build_connection(klass, sig, args)) { |conn| yield conn if block_given? }
    end

    # Makes an IO a connection: its data arrives in receive_data. The IO is closed
    # when the connection unbinds.
    def attach(io, handler = nil, *args, &blk)
      attach_io(io, false, handler, *args, &blk)
    end

    # Watches an IO for readiness only (notify_readable / notify_writable); em_rust
    # never reads, writes or closes it.
    def watch(io, handler = nil, *args, &blk)
      attach_io(io, true, handler, *args, &blk)
    end

    def attach_io(io, watch_mode, handler = nil, *args)
      klass = klass_from_handler(Connection, handler, *args)
      if !watch_mode && (klass.public_method_defined?(:notify_readable) || klass.public_method_defined?(:notify_writable))
        raise ArgumentError, "notify_readable/writable with EM.attach is not supported. Use EM.watch(io){ |c| c.notify_readable = true }"
      end
      fd = io.respond_to?(:fileno) ? io.fileno : io
      raise ArgumentError, "EM.attach/watch needs an IO or a file descriptor" unless fd.is_a?(Integer)
      sig = attach_fd(fd, watch_mode) # a watch is known as one before initialize runs
      conn = build_connection(klass, sig, args, { :@io => io, :@watch_mode => watch_mode, :@fd => fd })
      register(conn) { |c| yield c if block_given? }
    end

    # The Connection class for a handler: a Connection subclass, a Module (mixed
    # into one anonymous subclass, cached on the module), or nil.
    def klass_from_handler(klass = Connection, handler = nil, *args)
      klass = if handler.is_a?(Class)
                raise ArgumentError, "must provide module or subclass of #{klass.name}" unless klass >= handler
                handler
              elsif handler.is_a?(Module)
                handler.const_defined?(:EM_CONNECTION_CLASS, false) ? handler::EM_CONNECTION_CLASS : handler.const_set(:EM_CONNECTION_CLASS, Class.new(klass) { include handler })
              elsif handler.nil?
                klass
              else
                raise TypeError, "wrong argument type #{handler.class} (expected Module)"
              end
      check_initialize_arity(klass, args)
      klass
    end

    def connection_count
      machine!("evma_get_connection_count").connection_count
    end
    alias get_connection_count connection_count

    # The reactor accepted `sig` on server `server_sig`.
    def event_accepted(server_sig, sig)
      klass, args, block = @acceptors[server_sig]
      raise NoHandlerForAcceptedConnection, "no handler for server #{server_sig}" unless klass
      conn = build_connection(klass, sig, args)
      @conns[sig] = conn
      block&.call(conn)
    end

    # The reactor closed `sig`; errno is the reason (0 for none).
    def event_unbound(sig, errno)
      @acceptors.delete(sig)
      forget_watch(sig)
      reap_child(sig)
      conn = @conns.delete(sig) or return
      if conn.original_method(:unbind).arity.zero?
        conn.unbind
      else
        conn.unbind(errno.zero? ? nil : ERRNOS[errno])
      end
    ensure
      close_attached_io(conn) if conn
    end

    private

    # Starts a TCP (or, without a port, Unix) connect; EM's errors for bad input.
    def start_connect(server, port, bind_addr, bind_port)
      machine = machine!("evma_connect_to_server")
      return machine.connect_unix_server(server.to_s) if port.nil?
      port = Integer(port)
      raise ConnectionError, "invalid server or port" if server.to_s.empty? || !(0..65_535).cover?(port)
      if bind_addr
        machine.bind_connect_server(bind_addr.to_s, Integer(bind_port || 0), server.to_s, port)
      else
        machine.connect_server(server.to_s, port)
      end
    end

    # The one way a Connection is made for a descriptor (accepted, connected,
    # attached, watched, popen, keyboard, file and process watches): `klass.new(sig,
    # *args)` as EM calls it, or, for an object EM.connect already made or a kind
    # whose instance variables initialize may read (`ivars`), allocate, set them,
    # initialize(*args), post_init. If initialize or post_init raises, the descriptor
    # is closed and forgotten, then the error propagates from the call that made it.
    def build_connection(klass_or_conn, sig, args, ivars = nil)
      return klass_or_conn.new(sig, *args) if klass_or_conn.is_a?(Class) && ivars.nil?
      conn = klass_or_conn.is_a?(Class) ? klass_or_conn.allocate : klass_or_conn
      conn.instance_variable_set(:@signature, sig)
      ivars&.each { |name, value| conn.instance_variable_set(name, value) }
      conn.__send__(:initialize, *args)
      conn.post_init
      conn
    rescue Exception # rubocop:disable Lint/RescueException -- re-raised
      @machine&.close_connection(sig, false)
      @conns.delete(sig)
      raise
    end

    # EM's call forms: a port that is not a number is really the handler (and the
    # host a Unix socket path); the rest shift along.
    def path_form(port, handler, args)
      return [port, handler, args] if port.nil? || integer_port?(port)
      [nil, port, handler ? [handler, *args] : args]
    end

    def integer_port?(port)
      Integer(port)
      true
    rescue ArgumentError, TypeError
      false
    end

    def register(conn)
      @conns[conn.signature] = conn
      yield conn
      conn
    end

    def check_initialize_arity(klass, args)
      arity = klass.instance_method(:initialize).arity
      expected = arity >= 0 ? arity : -(arity + 1)
      return if arity >= 0 ? args.size == expected : args.size >= expected
      raise ArgumentError, "wrong number of arguments for #{klass}#initialize (#{args.size} for #{expected})"
    end

    # An attached (not watched) IO is closed with its connection, as in EM.
    def close_attached_io(conn)
      return unless conn.instance_variable_defined?(:@io) && !conn.instance_variable_get(:@watch_mode)
      io = conn.instance_variable_get(:@io)
      io.close if io.respond_to?(:close) && !(io.respond_to?(:closed?) && io.closed?)
    rescue Errno::EBADF, IOError
      nil
    end
  end
end
