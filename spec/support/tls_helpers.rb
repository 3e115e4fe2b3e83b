# frozen_string_literal: true
# Helpers for spec/tls: certificates made at run time with Ruby's OpenSSL (no
# committed keys), TLS handlers the specs share, and Ruby OpenSSL peers
# (SSLSocket clients, an SSLServer on a thread) with deadlines on every wait.
# Everything binds 127.0.0.1.
require "openssl"
require "socket"
require "tmpdir"
require "fileutils"

module TlsHelpers
  HOST = "127.0.0.1"

  # Transfer sizes the data specs use.
  SIZES = { "1 byte" => 1, "64 KiB" => 64 << 10, "4 MiB" => 4 << 20 }.freeze

  # One set of certificates per process (generated on first use, written to a
  # temporary directory that is removed at exit):
  #
  #   ca            self-signed CA ("em_rust test CA")
  #   server        CN=localhost, SAN DNS:localhost + IP:127.0.0.1, signed by ca
  #   chain         file: server cert followed by the ca cert
  #   self_signed   CN=localhost (same SANs), self-signed
  #   expired       like server, signed by ca, expired an hour ago
  #   wrong_host    CN=wrong.example, SAN DNS:wrong.example only, signed by ca
  #   dns_only      CN=localhost, SAN DNS:localhost only (no IP), signed by ca
  #   client        CN=em_rust test client, clientAuth, signed by ca
  #   encrypted     the server key, passphrase-encrypted PEM (traditional and PKCS#8)
  #   dhparam       ffdhe2048 DH parameters (PEM)
  class Certs
    PASSPHRASE = "correct horse battery staple"

    attr_reader :dir, :ca_key, :ca_cert, :server_key, :server_cert, :self_signed_cert,
                :expired_cert, :wrong_host_cert, :client_key, :client_cert, :other_key

    def self.instance = (@instance ||= new)

    def initialize
      @dir = Dir.mktmpdir("em_tls_certs")
      dir = @dir
      at_exit { FileUtils.rm_rf(dir) }
      @serial = 0
      now = Time.now
      @ca_key = OpenSSL::PKey::RSA.new(2048)
      @server_key = OpenSSL::PKey::RSA.new(2048)
      @client_key = OpenSSL::PKey::RSA.new(2048)
      @other_key = OpenSSL::PKey::RSA.new(2048) # matches no certificate here

      @ca_cert = make_cert(subject: "/CN=em_rust test CA", key: @ca_key, issuer: nil, issuer_key: @ca_key,
                           ca: true, not_before: now - 3600, not_after: now + 7 * 86_400)
      leaf = { key: @server_key, issuer: @ca_cert, issuer_key: @ca_key, not_before: now - 3600, not_after: now + 7 * 86_400,
               eku: "serverAuth,clientAuth" }
      @server_cert = make_cert(subject: "/CN=localhost", san: "DNS:localhost,IP:127.0.0.1", **leaf)
      @expired_cert = make_cert(subject: "/CN=localhost", san: "DNS:localhost,IP:127.0.0.1",
                                **leaf, not_before: now - 3 * 86_400, not_after: now - 3600)
      @wrong_host_cert = make_cert(subject: "/CN=wrong.example", san: "DNS:wrong.example", **leaf)
      @dns_only_cert = make_cert(subject: "/CN=localhost", san: "DNS:localhost", **leaf)
      @self_signed_cert = make_cert(subject: "/CN=localhost", san: "DNS:localhost,IP:127.0.0.1", key: @server_key,
                                    issuer: nil, issuer_key: @server_key, not_before: now - 3600, not_after: now + 7 * 86_400,
                                    eku: "serverAuth,clientAuth")
      @client_cert = make_cert(subject: "/CN=em_rust test client", key: @client_key, issuer: @ca_cert, issuer_key: @ca_key,
                               not_before: now - 3600, not_after: now + 7 * 86_400, eku: "clientAuth")

      write("ca.crt", @ca_cert.to_pem)
      write("server.crt", @server_cert.to_pem)
      write("server.key", @server_key.to_pem)
      write("chain.crt", @server_cert.to_pem + @ca_cert.to_pem)
      write("self_signed.crt", @self_signed_cert.to_pem)
      write("expired.crt", @expired_cert.to_pem)
      write("wrong_host.crt", @wrong_host_cert.to_pem)
      write("dns_only.crt", @dns_only_cert.to_pem)
      write("client.crt", @client_cert.to_pem)
      write("client.key", @client_key.to_pem)
      write("other.key", @other_key.to_pem)
      write("server_encrypted.key", encrypted_key_pem)
      write("server_encrypted_pkcs8.key", encrypted_key_pkcs8_pem)
      write("dhparam.pem", OpenSSL::PKey.generate_parameters("DH", "group" => "ffdhe2048").to_pem)
      write("garbage.key", "this is not a PEM private key\n")
      # A CA directory in the c_rehash layout (<subject hash>.0) for :ca_path.
      FileUtils.mkdir_p(path("ca_dir"))
      write(format("ca_dir/%08x.0", @ca_cert.subject.hash), @ca_cert.to_pem)
    end

    def path(name) = File.join(@dir, name)

    # File paths.
    def ca_file = path("ca.crt")
    def ca_dir = path("ca_dir")
    def server_cert_file = path("server.crt")
    def server_key_file = path("server.key")
    def chain_file = path("chain.crt")
    def self_signed_cert_file = path("self_signed.crt")
    def expired_cert_file = path("expired.crt")
    def wrong_host_cert_file = path("wrong_host.crt")
    def dns_only_cert_file = path("dns_only.crt") # DNS:localhost, no IP SAN
    def client_cert_file = path("client.crt")
    def client_key_file = path("client.key")
    def other_key_file = path("other.key")
    def encrypted_key_file = path("server_encrypted.key")
    def encrypted_pkcs8_key_file = path("server_encrypted_pkcs8.key")
    def dhparam_file = path("dhparam.pem")
    def garbage_key_file = path("garbage.key")

    # PEM strings.
    def server_cert_pem = @server_cert.to_pem
    def server_key_pem = @server_key.to_pem
    def client_cert_pem = @client_cert.to_pem
    def client_key_pem = @client_key.to_pem
    def ca_cert_pem = @ca_cert.to_pem
    def passphrase = PASSPHRASE

    # The server key encrypted with PASSPHRASE: "Proc-Type: 4,ENCRYPTED" PEM.
    def encrypted_key_pem
      @encrypted_key_pem ||= @server_key.to_pem(OpenSSL::Cipher.new("aes-256-cbc"), PASSPHRASE)
    end

    # The same key as an "ENCRYPTED PRIVATE KEY" (PKCS#8) PEM.
    def encrypted_key_pkcs8_pem
      @encrypted_key_pkcs8_pem ||= @server_key.private_to_pem(OpenSSL::Cipher.new("aes-256-cbc"), PASSPHRASE)
    end

    # Server options for start_tls: the localhost certificate (and its CA) from files.
    def server_opts = { private_key_file: server_key_file, cert_chain_file: chain_file }

    # A client certificate for start_tls.
    def client_opts = { private_key_file: client_key_file, cert_chain_file: client_cert_file }

    # A Ruby SSLContext that trusts only our CA.
    def trusting_store
      store = OpenSSL::X509::Store.new
      store.add_cert(@ca_cert)
      store
    end

    private

    def write(name, text)
      File.write(path(name), text)
    end

    def make_cert(subject:, key:, issuer:, issuer_key:, not_before:, not_after:, ca: false, san: nil, eku: nil)
      cert = OpenSSL::X509::Certificate.new
      cert.version = 2
      cert.serial = (@serial += 1) + (Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond) << 8)
      cert.subject = OpenSSL::X509::Name.parse(subject)
      cert.issuer = issuer ? issuer.subject : cert.subject
      cert.public_key = key.public_key
      cert.not_before = not_before
      cert.not_after = not_after
      ef = OpenSSL::X509::ExtensionFactory.new
      ef.subject_certificate = cert
      ef.issuer_certificate = issuer || cert
      cert.add_extension(ef.create_extension("basicConstraints", ca ? "CA:TRUE" : "CA:FALSE", true))
      cert.add_extension(ef.create_extension("keyUsage", ca ? "keyCertSign,cRLSign" : "digitalSignature,keyEncipherment", true))
      cert.add_extension(ef.create_extension("subjectKeyIdentifier", "hash", false))
      cert.add_extension(ef.create_extension("authorityKeyIdentifier", "keyid:always", false))
      cert.add_extension(ef.create_extension("subjectAltName", san, false)) if san
      cert.add_extension(ef.create_extension("extendedKeyUsage", eku, false)) if eku
      cert.sign(issuer_key, OpenSSL::Digest.new("SHA256"))
      cert
    end
  end

  def certs = Certs.instance

  # One end of a TLS connection that records what happens to it, in order, into
  # a log shared with the other end: [role, event] pairs, event one of
  # :post_init, :connection_completed, :start_tls, :verify, :handshake, :data
  # (first chunk only), :unbind, :start_tls_error.
  #
  #   tls:          start_tls options, or nil to stay plain
  #   start_in:     :post_init or :connection_completed (default: server post_init,
  #                 client connection_completed)
  #   verify:       what ssl_verify_peer returns; a callable gets (pem, conn)
  #   send:         sent right after start_tls (before the handshake completes)
  #   then_close:   close_connection_after_writing right after that
  #   echo:         echo received data back
  #   on_handshake / on_data / on_unbind: callables given the connection
  class TlsEnd < EM::Connection
    attr_reader :role, :tls, :received, :reason, :verified, :after_start, :at_handshake, :error, :events

    # `opts` is a positional Hash: EM hands handler arguments on with *args.
    def initialize(role, log, opts = {})
      super()
      unknown = opts.keys - %i[tls start_in verify send then_close echo on_handshake on_data on_unbind]
      raise ArgumentError, "unknown TlsEnd options #{unknown}" unless unknown.empty?
      @role = role
      @log = log
      @tls = opts.fetch(:tls, {})
      @start_in = opts[:start_in] || (role == :server ? :post_init : :connection_completed)
      @verify = opts.fetch(:verify, true)
      @send = opts[:send]
      @then_close = opts[:then_close]
      @echo = opts[:echo]
      @on_handshake = opts[:on_handshake]
      @on_data = opts[:on_data]
      @on_unbind = opts[:on_unbind]
      @received = +"".b
      @verified = []
      @events = []
      @unbound = false
    end

    def unbound? = @unbound
    def handshake? = !@at_handshake.nil?

    def post_init
      record(:post_init)
      start_tls_now if @start_in == :post_init
    end

    def connection_completed
      record(:connection_completed)
      start_tls_now if @start_in == :connection_completed
    end

    def start_tls_now
      return if @tls.nil?
      start_tls(@tls)
      record(:start_tls)
      @after_start = getters
      send_data(@send) if @send
      close_connection_after_writing if @then_close
    rescue Exception => e # rubocop:disable Lint/RescueException -- EM's option errors are not StandardErrors
      @error = e
      record(:start_tls_error)
      close_connection
    end

    def ssl_verify_peer(pem)
      record(:verify)
      @verified << pem
      @verify.respond_to?(:call) ? @verify.call(pem, self) : @verify
    end

    def ssl_handshake_completed
      record(:handshake)
      @at_handshake = getters
      @on_handshake&.call(self)
    end

    def receive_data(data)
      record(:data) if @received.empty?
      @received << data
      send_data(data) if @echo
      @on_data&.call(self, data)
    end

    def unbind(reason = nil)
      @reason = reason
      @unbound = true
      record(:unbind)
      @on_unbind&.call(self)
    end

    # What the TLS getters return now.
    def getters
      { peer_cert: get_peer_cert, bits: get_cipher_bits, name: get_cipher_name,
        protocol: get_cipher_protocol, sni: get_sni_hostname }
    end

    # Subjects of the certificates ssl_verify_peer was given, in order.
    def verified_subjects = @verified.map { |pem| OpenSSL::X509::Certificate.new(pem).subject.to_s }

    private

    def record(event)
      @events << event
      @log << [@role, event]
    end
  end

  # A tiny HTTPS server for HTTP clients: answers the first request on a TLS
  # connection with "<METHOD> <target> sni=<get_sni_hostname>" and closes.
  # Request lines go into `requests`.
  class HttpsResponder < EM::Connection
    def initialize(opts, requests)
      super()
      @opts = opts
      @requests = requests
      @buf = +""
    end

    def post_init = start_tls(@opts)

    def receive_data(data)
      @buf << data
      return unless @buf.include?("\r\n\r\n") && !@answered
      @answered = true
      request_line = @buf.lines.first.strip
      @requests << request_line
      body = "#{request_line.split[0, 2].join(' ')} sni=#{get_sni_hostname}"
      send_data("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: #{body.bytesize}\r\n" \
                "Connection: close\r\n\r\n#{body}")
      close_connection_after_writing
    end
  end

  # Runs a reactor with a TLS server (a TlsEnd with `server` options) on a free
  # loopback port and a client (a TlsEnd with `client` options) connected to
  # it. It stops once both ends have unbound, or when `until_cond` (given
  # server, client) holds. Returns [server, client, log]. `client_class` may
  # be a TlsEnd subclass.
  def tls_pair(server: {}, client: {}, limit: 10, until_cond: nil, what: "both ends to unbind", client_class: TlsEnd)
    log = []
    srv = nil
    cl = nil
    run_em(limit) do
      _, port = start_server_on_free_port(TlsEnd, :server, log, { tls: certs.server_opts }.merge(server)) { |c| srv = c }
      cl = EM.connect(HOST, port, client_class, :client, log, client)
      cond = until_cond || ->(s, c) { s&.unbound? && c.unbound? }
      stop_when(timeout: limit - 1, what: what) { cond.call(srv, cl) }
    end
    [srv, cl, log]
  end

  # Inside the reactor: a TLS server (TlsEnd; `opts` as for TlsEnd, tls:
  # defaulting to the localhost certificate) on a free loopback port.
  # Returns [port, accepted]; accepted collects the server connections.
  def start_tls_server(log = [], **opts)
    accepted = []
    _, port = start_server_on_free_port(TlsEnd, :server, log, { tls: certs.server_opts }.merge(opts)) { |c| accepted << c }
    [port, accepted]
  end

  # Inside the reactor: a TlsEnd client connected to 127.0.0.1:port.
  def tls_connect(port, opts = {}, log = [])
    EM.connect(HOST, port, TlsEnd, :client, log, opts)
  end

  # ---- Ruby OpenSSL peers, each on its own thread, every wait bounded --------

  # A Ruby SSLContext for a client: verifying against our CA, or not at all.
  def ruby_client_ctx(verify: false, cert: nil, key: nil, **settings)
    ctx = OpenSSL::SSL::SSLContext.new
    if verify
      ctx.verify_mode = OpenSSL::SSL::VERIFY_PEER
      ctx.cert_store = certs.trusting_store
    else
      ctx.verify_mode = OpenSSL::SSL::VERIFY_NONE
    end
    ctx.cert = cert if cert
    ctx.key = key if key
    settings.each { |k, v| ctx.public_send("#{k}=", v) }
    ctx
  end

  # A Ruby SSLContext for a server with the localhost certificate (and CA).
  def ruby_server_ctx(**settings)
    ctx = OpenSSL::SSL::SSLContext.new
    ctx.cert = certs.server_cert
    ctx.key = certs.server_key
    ctx.extra_chain_cert = [certs.ca_cert]
    settings.each { |k, v| ctx.public_send("#{k}=", v) }
    ctx
  end

  def tls_threads = (@tls_threads ||= [])

  # Starts a thread; its exception is kept for #value (never printed).
  def tls_thread(&blk)
    th = Thread.new do
      Thread.current.report_on_exception = false
      blk.call
    end
    tls_threads << th
    th
  end

  # Connects a Ruby SSLSocket to 127.0.0.1:port on a new thread and yields it
  # there (closed afterwards). Returns the Thread; its value is the block's.
  def ruby_tls_client(port, ctx: ruby_client_ctx, hostname: nil, timeout: 10)
    tls_thread do
      deadline = now + bound(timeout)
      tcp = TCPSocket.new(HOST, port)
      ssl = OpenSSL::SSL::SSLSocket.new(tcp, ctx)
      ssl.hostname = hostname if hostname
      ssl.sync_close = true
      begin
        TlsHelpers.nonblocking(ssl, deadline, "TLS connect") { ssl.connect_nonblock(exception: false) }
        yield ssl, deadline
      ensure
        ssl.close rescue nil # rubocop:disable Style/RescueModifier
        tcp.close rescue nil # rubocop:disable Style/RescueModifier
      end
    end
  end

  # A Ruby TLS server (TCPServer + SSLSocket) on a free loopback port, serving
  # one connection on a new thread: yields the accepted SSLSocket (closed
  # afterwards). Returns [port, thread]; the thread's value is the block's.
  def ruby_tls_server(ctx: ruby_server_ctx, timeout: 10)
    server = TCPServer.new(HOST, 0)
    port = server.addr[1]
    th = tls_thread do
      deadline = now + bound(timeout)
      begin
        raise "no connection to the Ruby TLS server within #{timeout}s" unless IO.select([server], nil, nil, [deadline - now, 0].max)
        tcp = server.accept
        ssl = OpenSSL::SSL::SSLSocket.new(tcp, ctx)
        ssl.sync_close = true
        TlsHelpers.nonblocking(ssl, deadline, "TLS accept") { ssl.accept_nonblock(exception: false) }
        yield ssl, deadline
      ensure
        ssl&.close rescue nil # rubocop:disable Style/RescueModifier
        tcp&.close rescue nil # rubocop:disable Style/RescueModifier
        server.close
      end
    end
    [port, th]
  end

  # Repeats a nonblocking SSLSocket call until it stops asking to wait.
  def self.nonblocking(ssl, deadline, what)
    loop do
      r = yield
      case r
      when :wait_readable then wait_io(ssl, deadline, what, read: true)
      when :wait_writable then wait_io(ssl, deadline, what, read: false)
      else return r
      end
    end
  end

  def self.wait_io(io, deadline, what, read:)
    left = deadline - CoreHelpers.now
    ready = left.positive? && (read ? IO.select([io], nil, nil, left) : IO.select(nil, [io], nil, left))
    raise "timed out: #{what}" unless ready
  end

  # Reads exactly `n` bytes from an SSLSocket by `deadline`.
  def ssl_read_exactly(ssl, n, deadline)
    buf = +"".b
    while buf.bytesize < n
      chunk = TlsHelpers.nonblocking(ssl, deadline, "reading #{n} bytes (got #{buf.bytesize})") do
        ssl.read_nonblock([n - buf.bytesize, 65_536].min, exception: false)
      end
      raise EOFError, "closed after #{buf.bytesize}/#{n} bytes" if chunk.nil?
      buf << chunk
    end
    buf
  end

  # Reads until the peer closes (EOF or reset) by `deadline`; returns the bytes.
  def ssl_read_to_eof(ssl, deadline)
    buf = +"".b
    loop do
      chunk = TlsHelpers.nonblocking(ssl, deadline, "reading to EOF (got #{buf.bytesize})") do
        ssl.read_nonblock(65_536, exception: false)
      end
      return buf if chunk.nil?
      buf << chunk
    end
  rescue Errno::ECONNRESET, OpenSSL::SSL::SSLError
    buf
  end

  # Writes all of `data` by `deadline`.
  def ssl_write_all(ssl, data, deadline)
    data = data.b
    until data.empty?
      n = TlsHelpers.nonblocking(ssl, deadline, "writing #{data.bytesize} bytes") { ssl.write_nonblock(data, exception: false) }
      data = data.byteslice(n..)
    end
  end

  # Deterministic pseudo-random bytes.
  def tls_bytes(size, seed: 1) = Random.new(seed).bytes(size)

  def sha(data) = OpenSSL::Digest::SHA256.hexdigest(data)
end

RSpec.configure do |config|
  config.include ConnectionHelpers, file_path: %r{spec/tls/}
  config.include TlsHelpers, file_path: %r{spec/tls/}
  # Several handshakes per example, on a loaded 2-core box: 30 s unless the
  # example says otherwise (each reactor run has its own, shorter deadline).
  config.define_derived_metadata(file_path: %r{spec/tls/}) { |meta| meta[:timeout] ||= 30 }
  # Key generation takes a second or two: not inside an example's time limit.
  config.before(:context, file_path: %r{spec/tls/}) { TlsHelpers::Certs.instance }
  config.after(:each, file_path: %r{spec/tls/}) do
    tls_threads.each do |th|
      next unless th.alive?
      th.kill
      th.join(2)
    end
    close_held_sockets
    remove_tmpdir
  end
end
