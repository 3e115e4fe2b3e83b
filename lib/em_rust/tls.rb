# frozen_string_literal: true
# TLS: EventMachine's start_tls options and checks, the protocol constants, and
# the handshake's callbacks. The TLS itself is OpenSSL, in the Rust reactor.
module EventMachine
  EM_PROTO_SSLv2 = 2
  EM_PROTO_SSLv3 = 4
  EM_PROTO_TLSv1 = 8
  EM_PROTO_TLSv1_1 = 16
  EM_PROTO_TLSv1_2 = 32
  EM_PROTO_TLSv1_3 = 64
  OPENSSL_NO_SSL2 = true
  OPENSSL_NO_SSL3 = true
  # OPENSSL_LIBRARY_VERSION and OPENSSL_VERSION are set by the native library.

  TLS_PROTOCOLS = {
    "sslv2" => EM_PROTO_SSLv2, "sslv3" => EM_PROTO_SSLv3, "tlsv1" => EM_PROTO_TLSv1,
    "tlsv1_1" => EM_PROTO_TLSv1_1, "tlsv1_2" => EM_PROTO_TLSv1_2, "tlsv1_3" => EM_PROTO_TLSv1_3
  }.freeze

  class << self
    # TLS has negotiated (ssl_verify_peer, if asked for, ran during the handshake).
    def event_tls_handshaken(sig)
      @conns[sig]&.ssl_handshake_completed
    end

    # The protocols mask for :ssl_version (String or Array, any case).
    def tls_protocols(versions)
      return EM_PROTO_TLSv1 | EM_PROTO_TLSv1_1 | EM_PROTO_TLSv1_2 | EM_PROTO_TLSv1_3 if versions.nil?
      Array(versions).flatten.sum do |version|
        TLS_PROTOCOLS.fetch(version.to_s.downcase) { raise RuntimeError, "Unrecognized SSL/TLS Protocol: #{version}" }
      end
    end
  end

  class Connection
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

      options = {
        "private_key_file" => key_file, "private_key" => key, "private_key_pass" => args[:private_key_pass],
        "cert_chain_file" => chain_file, "cert" => cert, "verify_peer" => args[:verify_peer],
        "fail_if_no_peer_cert" => args[:fail_if_no_peer_cert], "sni_hostname" => args[:sni_hostname],
        "cipher_list" => args[:cipher_list], "ecdh_curve" => args[:ecdh_curve], "dhparam" => args[:dhparam],
        "protocols" => EventMachine.tls_protocols(args[:ssl_version]),
        "ca_file" => args[:ca_file], "ca_path" => args[:ca_path], "ca_default" => args[:ca_default],
        "connect_host" => @em_rust_connect_host
      }
      options["verify_hostname"] = args[:verify_hostname] if args.key?(:verify_hostname)
      EventMachine.start_tls_on(@signature, options.transform_values { |v| v.is_a?(Symbol) ? v.to_s : v })
      nil
    end

    def get_peer_cert = EventMachine.tls_info(@signature, :peer_cert)
    def get_cipher_bits = EventMachine.tls_info(@signature, :cipher_bits)
    def get_cipher_name = EventMachine.tls_info(@signature, :cipher_name)
    def get_cipher_protocol = EventMachine.tls_info(@signature, :cipher_protocol)
    def get_sni_hostname = EventMachine.tls_info(@signature, :sni_hostname)

    private

    def present?(value) = !(value.nil? || (value.respond_to?(:empty?) && value.empty?))
  end

  class << self
    def start_tls_on(sig, options)
      machine!("evma_start_tls").start_tls(sig, options)
    end

    def tls_info(sig, what)
      @machine&.public_send(what, sig)
    end

    # EM's binding-level TLS functions (Connection#start_tls uses start_tls_on).
    def set_tls_parms(sig, key_file, key, key_pass, chain_file, cert, verify_peer, fail_if_no_peer_cert,
                      sni_hostname, cipher_list, ecdh_curve, dhparam, protocols)
      (@tls_parms ||= {})[sig] = {
        "private_key_file" => key_file, "private_key" => key, "private_key_pass" => key_pass,
        "cert_chain_file" => chain_file, "cert" => cert, "verify_peer" => verify_peer,
        "fail_if_no_peer_cert" => fail_if_no_peer_cert, "sni_hostname" => sni_hostname,
        "cipher_list" => cipher_list, "ecdh_curve" => ecdh_curve, "dhparam" => dhparam, "protocols" => protocols
      }
      nil
    end

    def start_tls(sig)
      start_tls_on(sig, (@tls_parms ||= {}).delete(sig) || { "protocols" => tls_protocols(nil) })
      nil
    end

    def get_peer_cert(sig) = tls_info(sig, :peer_cert)
    def get_cipher_bits(sig) = tls_info(sig, :cipher_bits)
    def get_cipher_name(sig) = tls_info(sig, :cipher_name)
    def get_cipher_protocol(sig) = tls_info(sig, :cipher_protocol)
    def get_sni_hostname(sig) = tls_info(sig, :sni_hostname)
  end
end
