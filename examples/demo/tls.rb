# frozen_string_literal: true
# TLS between an EM server and an EM client, with a certificate for 127.0.0.1
# made here with Ruby's OpenSSL. The client verifies it against that certificate
# (em_rust's ca_file: option; EventMachine itself only offers ssl_verify_peer).
require "openssl"
require "tmpdir"

module Demo
  class TlsServer < EM::Connection
    def initialize(files)
      super()
      @files = files
    end

    # TCP_NODELAY: without it the first reply waits out the client's delayed ACK
    # (Nagle; EventMachine and em_rust leave sockets as the kernel makes them).
    def post_init
      set_sock_opt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
      start_tls(private_key_file: @files[:key], cert_chain_file: @files[:cert])
    end

    def receive_data(data) = send_data(data.upcase)
  end

  class TlsClient < EM::Connection
    def initialize(files, started)
      super()
      @files = files
      @started = started
    end

    def connection_completed = start_tls(ca_file: @files[:cert])

    def ssl_handshake_completed
      Demo.log format("client handshake done in %.1f ms: %s, %s (%d bits), certificate verified for 127.0.0.1",
                      (Demo.now - @started) * 1000, get_cipher_protocol, get_cipher_name, get_cipher_bits)
      send_data("hello over tls")
    end

    def receive_data(data)
      Demo.log "client got #{data.inspect} (decrypted)"
      close_connection
    end

    def unbind = EM.stop
  end

  module_function

  # A self-signed RSA 2048 certificate for 127.0.0.1, as PEM files in dir.
  def make_certificate(dir)
    key = OpenSSL::PKey::RSA.new(2048)
    cert = OpenSSL::X509::Certificate.new
    cert.version = 2
    cert.serial = 1
    cert.subject = cert.issuer = OpenSSL::X509::Name.parse("/CN=em_rust demo")
    cert.public_key = key.public_key
    cert.not_before = Time.now - 60
    cert.not_after = Time.now + 3600
    ext = OpenSSL::X509::ExtensionFactory.new(cert, cert)
    cert.add_extension(ext.create_extension("subjectAltName", "IP:127.0.0.1"))
    cert.add_extension(ext.create_extension("basicConstraints", "CA:TRUE", true))
    cert.sign(key, OpenSSL::Digest.new("SHA256"))
    files = { key: File.join(dir, "key.pem"), cert: File.join(dir, "cert.pem") }
    File.write(files[:key], key.to_pem)
    File.write(files[:cert], cert.to_pem)
    files
  end

  def tls
    Dir.mktmpdir("em_rust-demo-tls") do |dir|
      files = make_certificate(dir)
      log "made a self-signed certificate for 127.0.0.1 with Ruby's OpenSSL"
      EM.run do
        server = EM.start_server("127.0.0.1", 0, TlsServer, files)
        port = Socket.unpack_sockaddr_in(EM.get_sockname(server)).first
        EM.connect("127.0.0.1", port, TlsClient, files, now)
        EM.add_timer(5) { log "TLS timed out"; EM.stop }
      end
    end
  end
end
