# frozen_string_literal: true
require_relative "rethinkdb_helper"
require "openssl"

# r.connect(ssl: { ca_certs: path }) as the official driver takes it, through a
# TLS-terminating relay (Ruby's OpenSSL, started here on loopback) in front of
# reqlite, which speaks no TLS itself. The test CA and certificates are
# spec/support/tls_helpers.rb's.
RSpec.describe "RethinkDB over TLS", :rethinkdb, :reqlite, em_rust_only: "the RethinkDB client is em_rust's" do
  include TlsHelpers

  # Accepts TLS on a free loopback port with +cert_file+ and relays each
  # connection to reqlite in the clear. Stopped (threads and sockets) by #stop.
  class TlsRelay
    attr_reader :port

    def initialize(target_port, cert_file, key_file, min_version: nil, max_version: nil)
      ctx = OpenSSL::SSL::SSLContext.new
      ctx.cert = OpenSSL::X509::Certificate.new(File.read(cert_file))
      ctx.key = OpenSSL::PKey.read(File.read(key_file))
      ctx.min_version = min_version if min_version
      ctx.max_version = max_version if max_version
      @tcp = TCPServer.new("127.0.0.1", 0)
      @port = @tcp.addr[1]
      @server = OpenSSL::SSL::SSLServer.new(@tcp, ctx)
      @server.start_immediately = false
      @threads = []
      @sockets = []
      @accepted = Thread.new { accept_loop(target_port) }
    end

    def stop
      @accepted.kill
      (@threads + [@accepted]).each { |t| t.kill.join(1) }
      (@sockets + [@tcp]).each { |s| s.close rescue nil } # rubocop:disable Style/RescueModifier
    end

    private

    def accept_loop(target_port)
      loop do
        client = @server.accept
        @sockets << client
        @threads << Thread.new { relay(client, target_port) }
      end
    end

    def relay(client, target_port)
      client.accept # the TLS handshake; a client that refuses the certificate ends it
      backend = TCPSocket.new("127.0.0.1", target_port)
      @sockets << backend
      loop do
        ready, = IO.select([client, backend])
        ready.each do |from|
          to = from.equal?(client) ? backend : client
          data = from.read_nonblock(65_536, exception: false)
          next if data == :wait_readable
          return if data.nil?

          to.write(data)
        end
      end
    rescue StandardError
      nil
    ensure
      [client, backend].each { |s| s&.close rescue nil } # rubocop:disable Style/RescueModifier
    end
  end

  let(:server) { ReqliteServer.shared }
  let(:relays) { [] }
  after { relays.each(&:stop) }

  def relay(cert = certs.chain_file, **opts)
    TlsRelay.new(server.port, cert, certs.server_key_file, **opts).tap { |rl| relays << rl }
  end

  def tls_connect(port, ssl, host: "127.0.0.1")
    r.connect(host: host, port: port, ssl: ssl, timeout: 5, transport: RethinkDB::Native::Socket)
  end

  it "runs queries over TLS with ca_certs (the official driver's option)" do
    c = tls_connect(relay.port, { ca_certs: certs.ca_file })
    expect(r.expr([1, 2, 3]).map { |x| x * 2 }.run(c)).to eq([2, 4, 6])
    expect(r.range(5000).coerce_to("array").run(c).size).to eq(5000)
    c.close(noreply_wait: false)
  end

  it "checks the name: localhost matches the certificate's DNS entry too" do
    c = tls_connect(relay.port, { "ca_certs" => certs.ca_file }, host: "localhost")
    expect(r.expr("named").run(c)).to eq("named")
    c.close(noreply_wait: false)
  end

  it "em_run with a Handler on the reactor over TLS, and a changefeed" do
    c = tls_connect(relay.port, { ca_certs: certs.ca_file })
    RethinkDBSpec.reset_test_db(c)
    log = []
    handler = Class.new(RethinkDB::Handler) do
      define_method(:on_open) { log << :open }
      define_method(:on_val) { |v| log << v }
      define_method(:on_change) { |_old, new| log << [:change, new["id"]]; EM.stop if log.count { |e| e.is_a?(Array) } == 2 }
      define_method(:on_close) { log << :close }
      define_method(:on_error) { |e| log << [:error, e.message] } # the feed, closed at EM.stop
    end.new
    next_id = 0
    run_em(10) do
      r.expr(41).add(1).em_run(c, handler)
      r.table("test").changes.em_run(c, handler)
      # Writes until the feed has seen two: a loaded machine may start it late.
      EM.add_periodic_timer(0.3) { r.table("test").insert([{ id: next_id += 1 }, { id: next_id += 1 }]).run(c) }
    end
    changes = log.select { |e| e.is_a?(Array) && e[0] == :change }
    expect(log).to include(42)
    expect(changes.size).to be >= 2
    expect(changes.map(&:last).uniq.size).to eq(changes.size)
  ensure
    c&.close(noreply_wait: false)
  end

  it "ssl: {} verifies against the system's CA store: the test CA is not in it, so it fails closed" do
    expect { tls_connect(relay.port, {}) }
      .to raise_error(RethinkDB::ReqlDriverError, /Could not connect to 127\.0\.0\.1:\d+: TLS handshake failed: certificate verify failed/)
  end

  {
    "a self-signed certificate" => [:self_signed_cert_file, /certificate verify failed \(self.signed certificate/],
    "an expired certificate" => [:expired_cert_file, /certificate verify failed \(certificate has expired\)/],
    "a certificate for another host" => [:wrong_host_cert_file, /certificate verify failed \(Hostname mismatch\)|IP address mismatch/],
  }.each do |what, (file, message)|
    it "refuses #{what} with a ReqlDriverError that says why" do
      rl = relay(certs.public_send(file))
      expect { tls_connect(rl.port, { ca_certs: certs.ca_file }) }.to raise_error(RethinkDB::ReqlDriverError, message)
    end
  end

  it "a server that speaks no TLS: a clear ReqlDriverError, no hang" do
    expect { tls_connect(server.port, { ca_certs: certs.ca_file }) }
      .to raise_error(RethinkDB::ReqlDriverError, /Could not connect to 127\.0\.0\.1:#{server.port}: TLS handshake failed/)
  end

  it "TLS 1.3 and TLS 1.2 servers both work" do
    c = tls_connect(relay(min_version: OpenSSL::SSL::TLS1_3_VERSION).port, { ca_certs: certs.ca_file })
    expect(r.expr(13).run(c)).to eq(13)
    c.close(noreply_wait: false)
    c = tls_connect(relay(max_version: OpenSSL::SSL::TLS1_2_VERSION).port, { ca_certs: certs.ca_file })
    expect(r.expr(12).run(c)).to eq(12)
    c.close(noreply_wait: false)
  end

  describe "bad ssl: options" do
    it "a missing ca_certs file: ReqlDriverError at connect naming it" do
      expect { tls_connect(relay.port, { ca_certs: "/nonexistent/ca.pem" }) }
        .to raise_error(RethinkDB::ReqlDriverError, %r{ca_certs file "/nonexistent/ca\.pem" does not exist})
    end

    it "a file that holds no certificate: ReqlDriverError" do
      expect { tls_connect(relay.port, { ca_certs: certs.garbage_key_file }) }
        .to raise_error(RethinkDB::ReqlDriverError, /could not load the CA certificates in/)
    end

    it "not a Hash, or an unknown key: ArgumentError" do
      expect { tls_connect(relay.port, "yes") }.to raise_error(ArgumentError, /ssl: must be a Hash/)
      expect { tls_connect(relay.port, { ca_cert: "x" }) }.to raise_error(ArgumentError, /unknown option\(s\) :ca_cert/)
    end

    it "ssl: nil connects in the clear" do
      c = r.connect(host: "127.0.0.1", port: server.port, ssl: nil, transport: RethinkDB::Native::Socket)
      expect(r.expr(1).run(c)).to eq(1)
      c.close(noreply_wait: false)
    end
  end
end
