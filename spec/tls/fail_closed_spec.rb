# frozen_string_literal: true
require "spec_helper"

# TLS verification fails closed: an option that names no CA, a CA check with no
# name to check, a reconnect to another host, a verify_peer with no
# ssl_verify_peer, a client key that does not match its certificate.
RSpec.describe "TLS verification fails closed" do
  def with_cert(file) = { private_key_file: certs.server_key_file, cert_chain_file: file }

  describe "CA options that name nothing", em_rust_only: "EM has no :ca_file / :ca_path" do
    ["", "  "].each do |blank|
      %i[ca_file ca_path].each do |option|
        it "start_tls(#{option}: #{blank.inspect}) raises EM::FileNotFoundException, like a missing file" do
          srv, cl, = tls_pair(client: { tls: { option => blank } })
          expect(cl.error).to be_a(EM::FileNotFoundException)
          expect(cl.error.message).to include(option.to_s)
          expect(srv.received).to eq("")
        end
      end
    end

    it "start_tls(ca_file: <missing file>) raises EM::FileNotFoundException" do
      _, cl, = tls_pair(client: { tls: { ca_file: File.join(tmpdir, "nope.crt") } })
      expect(cl.error).to be_a(EM::FileNotFoundException)
    end
  end

  describe "a CA check with no host name to check", em_rust_only: "EM has no CA store or hostname check" do
    # A client over EM.attach (no host connected to) with CA verification on.
    def attached_client(tls)
      log = []
      result = {}
      run_em do
        port, = start_tls_server(log, echo: true)
        sock = TCPSocket.new("127.0.0.1", port)
        held_sockets << sock
        client = EM.attach(sock, TlsHelpers::TlsEnd, :client, log, { tls: tls, start_in: :post_init, send: "ping",
                                                         on_data: ->(c, _) { c.close_connection } })
        stop_when(what: "the attached client to unbind") { client.unbound? }
        result[:client] = client
      end
      result[:client]
    end

    it "raises EM::BadParams at start_tls, saying what to give" do
      cl = attached_client(ca_file: certs.ca_file)
      expect(cl.error).to be_a(EM::BadParams)
      expect(cl.error.message).to include("sni_hostname", "verify_hostname: false")
      expect(cl.handshake?).to be(false)
    end

    it "with verify_hostname: false, verifies the chain only and completes" do
      cl = attached_client(ca_file: certs.ca_file, verify_hostname: false)
      expect(cl.error).to be_nil
      expect(cl.handshake?).to be(true)
      expect(cl.received).to eq("ping")
    end

    it "with :sni_hostname, checks that name" do
      cl = attached_client(ca_file: certs.ca_file, sni_hostname: "localhost")
      expect(cl.handshake?).to be(true)
    end
  end

  it "EM.reconnect to another host checks the new host's name, not the first one's",
     em_rust_only: "EM has no hostname check" do
    log = []
    outcomes = []
    run_em do
      port, = start_tls_server(log, tls: with_cert(certs.dns_only_cert_file), echo: true)
      tls = { ca_file: certs.ca_file }
      client = EM.connect("localhost", port, TlsHelpers::TlsEnd, :client, log,
                          { tls: tls, send: "ping", on_data: ->(c, _) { c.close_connection } })
      client.define_singleton_method(:unbind) do |reason = nil|
        outcomes << [handshake?, reason]
        @at_handshake = nil
        if outcomes.size == 1
          reconnect("127.0.0.1", port) # the certificate names localhost only
        else
          EM.stop
        end
      end
    end
    expect(outcomes).to eq([[true, nil], [false, Errno::EPROTO]])
  end

  describe "verify_peer: true with no ssl_verify_peer rejects the peer" do
    # TlsHelpers::TlsEnd without its ssl_verify_peer: the default applies.
    let(:plain_end) { Class.new(TlsHelpers::TlsEnd) { remove_method :ssl_verify_peer rescue nil; define_method(:ssl_verify_peer, EM::Connection.instance_method(:ssl_verify_peer)) } }

    it "on the client: the handshake fails, no data" do
      _, cl, = tls_pair(client: { tls: { verify_peer: true }, send: "ping" }, client_class: plain_end)
      expect(cl.handshake?).to be(false)
      expect(cl.reason).to eq(Errno::EPROTO)
      expect(cl.received).to eq("")
    end

    it "on the server: a client certificate is rejected too",
       em_rust_only: "EM's server accepts the peer when ssl_verify_peer is absent; em_rust applies one rule to both sides" do
      log = []
      accepted = []
      cl = nil
      run_em do
        _, port = start_server_on_free_port(plain_end, :server, log, { tls: certs.server_opts.merge(verify_peer: true) }) { |c| accepted << c }
        cl = tls_connect(port, { tls: certs.client_opts, send: "ping" }, log)
        stop_when(what: "both ends to unbind") { cl.unbound? && accepted.all?(&:unbound?) && accepted.any? }
      end
      expect(accepted.first.handshake?).to be(false)
      expect(accepted.first.received).to eq("")
    end
  end

  it "a client start_tls with a private key that does not match its certificate raises EM::InvalidPrivateKey from EM.run" do
    key = File.read(certs.other_key_file)
    cert = File.read(certs.client_cert_file)
    expect do
      EM.run do
        EM.add_timer(bound(5)) { EM.stop }
        server = EM.start_server("127.0.0.1", 0, EM::Connection)
        port = port_of(server)
        EM.connect("127.0.0.1", port, Module.new do
          define_method(:post_init) do
            start_tls(private_key: key, cert: cert)
          end
        end)
      end
    end.to raise_error(EM::InvalidPrivateKey)
  end

  it "the first handshake with the built-in identity takes under 50 ms and a 10 ms timer keeps its schedule", timeout: 30 do
    result = run_ruby(<<~'RUBY', timeout: bound(20))
      now = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
      server = Module.new { define_method(:post_init) { start_tls } }
      took = nil
      gaps = []
      EM.run do
        last = now.call
        EM.add_periodic_timer(0.01) { t = now.call; gaps << t - last; last = t }
        sig = EM.start_server("127.0.0.1", 0, server)
        port = Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]
        EM.add_timer(0.1) do
          t0 = now.call
          EM.connect("127.0.0.1", port, Module.new {
            define_method(:connection_completed) { start_tls }
            define_method(:ssl_handshake_completed) { took = now.call - t0; EM.add_timer(0.05) { EM.stop } }
          })
        end
        EM.add_timer(5) { EM.stop }
      end
      puts format("took %.4f maxgap %.4f", took || 99, gaps.max)
    RUBY
    expect(result).to be_success, result.output
    took, maxgap = result.output.scan(/[\d.]+/).map(&:to_f)
    expect(took).to be < bound(0.05), result.output
    expect(maxgap).to be < bound(0.04), result.output
  end
end
