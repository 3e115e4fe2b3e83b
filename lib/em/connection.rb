# frozen_string_literal: true
module EventMachine
  # One connection (TCP, Unix, UDP, pipe, attached or watched fd). The reactor
  # creates instances: subclass it, or pass a Module that EM mixes into one cached
  # anonymous subclass, and override the callbacks.
  class Connection
    attr_accessor :signature

    # The reactor's constructor: allocate, set the signature, then the user's
    # initialize(*args), then post_init — all before the connect completes.
    def self.new(sig, *args)
      conn = allocate
      conn.instance_variable_set(:@signature, sig)
      conn.__send__(:initialize, *args) # users redefine #send (em-websocket, Stomp)
      conn.post_init
      conn
    end

    def initialize(*_args); end

    # Callbacks, overridden by users.
    def post_init; end
    def connection_completed; end
    def receive_data(data)
      puts "............>>>#{data.length}"
    end
    def unbind; end
    def ssl_handshake_completed; end
    # With verify_peer: true, a truthy answer accepts the peer's certificate; this
    # default (nil) rejects it, as EventMachine's does, on both sides.
    def ssl_verify_peer(_cert) = nil
    def proxy_target_unbound; end
    def proxy_completed; end

    # `method` itself may be overridden by users (some gems do); EM keeps this alias.
    alias original_method method

    # send_data(data) is native (ruby_api/event_machine.rs): EM.send_data(@signature,
    # data.to_s, size), the hot path, without the Ruby calls in between.

    def close_connection(after_writing = false)
      EventMachine.close_connection(@signature, after_writing)
    end

    def close_connection_after_writing
      close_connection(true)
    end

    def detach
      EventMachine.detach_fd(@signature)
    end

    # True once the reactor no longer knows the connection: after any close, not only
    # one caused by an error (EM keeps error? for compatibility; it tells no more).
    def error?
      EventMachine.report_connection_error_status(@signature) != 0
    end

    def get_peername = EventMachine.get_peername(@signature)
    def get_sockname = EventMachine.get_sockname(@signature)
    def get_pid = EventMachine.get_subprocess_pid(@signature)
    def get_status = EventMachine.get_subprocess_status(@signature)
    def get_idle_time = EventMachine.get_idle_time(@signature)
    def get_outbound_data_size = EventMachine.get_outbound_data_size(@signature)

    def comm_inactivity_timeout = EventMachine.get_comm_inactivity_timeout(@signature)

    # Seconds of silence after which the connection closes (unbind gets
    # Errno::ETIMEDOUT); 0 turns it off.
    def comm_inactivity_timeout=(seconds)
      EventMachine.set_comm_inactivity_timeout(@signature, seconds.to_f)
    end
    alias set_comm_inactivity_timeout comm_inactivity_timeout=

    def pending_connect_timeout = EventMachine.get_pending_connect_timeout(@signature)

    def pending_connect_timeout=(seconds)
      EventMachine.set_pending_connect_timeout(@signature, seconds.to_f)
    end
    alias set_pending_connect_timeout pending_connect_timeout=

    def pause = EventMachine.pause_connection(@signature)
    def resume = EventMachine.resume_connection(@signature)
    def paused? = EventMachine.connection_paused?(@signature)

    def get_sock_opt(level, option) = EventMachine.get_sock_opt(@signature, level, option)
    def set_sock_opt(level, option, value) = EventMachine.set_sock_opt(@signature, level, option, value)

    def enable_keepalive(idle = 0, interval = 0, count = 0)
      EventMachine.enable_keepalive(@signature, idle, interval, count)
    end

    def disable_keepalive = EventMachine.disable_keepalive(@signature)

    # Sends a UDP datagram to host:port (datagram sockets only).
    def send_datagram(data, host, port)
      data = data.to_s
      EventMachine.send_datagram(@signature, data, data.bytesize, host, port)
    end

    def notify_readable=(mode)
      EventMachine.set_notify_readable(@signature, mode)
    end

    def notify_readable? = EventMachine.is_notify_readable(@signature)

    def notify_writable=(mode)
      EventMachine.set_notify_writable(@signature, mode)
    end

    def notify_writable? = EventMachine.is_notify_writable(@signature)

    def watch_only? = EventMachine.is_watch_only(@signature)

    # Relays everything this connection receives to `conn` inside the reactor
    # (no receive_data); `length` bytes at most (0 = no limit).
    def proxy_incoming_to(conn, bufsize = 0, length = 0)
      EventMachine.enable_proxy(self, conn, bufsize, length)
      nil
    end

    def stop_proxying = EventMachine.disable_proxy(self)
    def get_proxied_bytes = EventMachine.get_proxied_bytes(@signature)

    # Points this connection object at a new connection to server:port.
    def reconnect(server, port)
      EventMachine.reconnect(server, port, self)
    end

    # Sends a whole file (read now; for large files prefer stream_file_data).
    def send_file_data(filename)
      EventMachine.send_file_data(@signature, filename)
    end

    # Streams a file in chunks without blocking the reactor; returns a Deferrable.
    def stream_file_data(filename, args = {})
      EventMachine::FileStreamer.new(self, filename, args)
    end

    # Starts TLS on this connection (call it from post_init on a server, or from
    # post_init / connection_completed on a client), with EventMachine's options:
    # :private_key_file, :private_key, :private_key_pass, :cert_chain_file, :cert,
    # :verify_peer, :fail_if_no_peer_cert, :sni_hostname, :cipher_list, :ecdh_curve,
    # :dhparam, :ssl_version. em_rust also takes :ca_file, :ca_path, :ca_default (turn
    # on OpenSSL chain verification) and :verify_hostname (default true with a CA).
    def start_tls(args = {})
      key_file = args[:private_key_file]
      key = args[:private_key]
      chain_file = args[:cert_chain_file]
      cert = args[:cert]
      [key_file, chain_file].each do |file|
        next if file.nil? || file.empty?
        raise FileNotFoundException, "Could not find #{file} for start_tls" unless File.exist?(file)
      end
      # A CA option that names nothing would verify against nothing: say so now.
      %i[ca_file ca_path].each do |option|
        path = args[option]
        next if path.nil?
        if path.to_s.strip.empty? || !File.exist?(path)
          raise FileNotFoundException, "Could not find #{path.inspect} (#{option}) for start_tls"
        end
      end
      if present?(key_file) && present?(key)
        raise BadPrivateKeyParams, "Specifying both private_key and private_key_file not allowed"
      end
      raise BadCertParams, "Specifying both cert and cert_chain_file not allowed" if present?(chain_file) && present?(cert)
      if (present?(key_file) || present?(key)) && !present?(chain_file) && !present?(cert)
        raise BadParams, "You have specified a private key to use, but not the related cert"
      end

      options = EventMachine.tls_options(args, protocols: EventMachine.tls_protocols(args[:ssl_version]),
                                               connect_host: @em_rust_connect_host)
      EventMachine.start_tls_on(@signature, options.transform_values { |v| v.is_a?(Symbol) ? v.to_s : v })
      nil
    end

    def get_peer_cert = EventMachine.tls_info(@signature, :peer_cert)
    def get_cipher_bits = EventMachine.tls_info(@signature, :cipher_bits)
    def get_cipher_name = EventMachine.tls_info(@signature, :cipher_name)
    def get_cipher_protocol = EventMachine.tls_info(@signature, :cipher_protocol)
    def get_sni_hostname = EventMachine.tls_info(@signature, :sni_hostname)

    def associate_callback_target(_sig) = nil

    private

    def present?(value) = !(value.nil? || (value.respond_to?(:empty?) && value.empty?))
  end
end
