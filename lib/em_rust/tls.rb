# frozen_string_literal: true
# TLS: the protocol constants, the binding-level TLS functions and the handshake's
# callbacks (Connection#start_tls and the getters are in lib/em/connection.rb).
# The TLS itself is OpenSSL, in the Rust reactor.
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

  # start_tls's options that go to the native side under their own name.
  TLS_OPTION_NAMES = %i[
    private_key_file private_key private_key_pass cert_chain_file cert verify_peer fail_if_no_peer_cert
    sni_hostname cipher_list ecdh_curve dhparam ca_file ca_path ca_default
  ].freeze

  class << self
    # The protocols mask for :ssl_version (String or Array, any case).
    def tls_protocols(versions)
      return EM_PROTO_TLSv1 | EM_PROTO_TLSv1_1 | EM_PROTO_TLSv1_2 | EM_PROTO_TLSv1_3 if versions.nil?
      Array(versions).flatten.sum do |version|
        TLS_PROTOCOLS.fetch(version.to_s.downcase) { raise RuntimeError, "Unrecognized SSL/TLS Protocol: #{version}" }
      end
    end
  end

  class << self
    def start_tls_on(sig, options)
      machine!("evma_start_tls").start_tls(sig, options)
    end

    def tls_info(sig, what)
      @machine&.public_send(what, sig)
    end

    # The Hash Machine#start_tls takes, from start_tls's options (Symbol keys, as
    # Connection#start_tls gets them). `protocols` is the mask (tls_protocols);
    # `connect_host` is the name a client connected to (for verify_hostname).
    # :verify_hostname is passed only when given: absent, the native side defaults
    # it (true with a CA option).
    def tls_options(args, protocols:, connect_host: nil)
      options = TLS_OPTION_NAMES.to_h { |name| [name.to_s, args[name]] }
      options["protocols"] = protocols
      options["connect_host"] = connect_host
      options["verify_hostname"] = args[:verify_hostname] if args.key?(:verify_hostname)
      options
    end

    # EM's binding-level TLS functions (Connection#start_tls uses start_tls_on).
    def set_tls_parms(sig, key_file, key, key_pass, chain_file, cert, verify_peer, fail_if_no_peer_cert,
                      sni_hostname, cipher_list, ecdh_curve, dhparam, protocols)
      args = {
        private_key_file: key_file, private_key: key, private_key_pass: key_pass, cert_chain_file: chain_file,
        cert: cert, verify_peer: verify_peer, fail_if_no_peer_cert: fail_if_no_peer_cert,
        sni_hostname: sni_hostname, cipher_list: cipher_list, ecdh_curve: ecdh_curve, dhparam: dhparam
      }
      (@tls_parms ||= {})[sig] = tls_options(args, protocols: protocols)
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
