# frozen_string_literal: true
require "spec_helper"

# Certificate verification. EventMachine's own is callback-only: without
# options a client accepts any certificate, and verify_peer just hands each
# certificate to ssl_verify_peer. em_rust keeps that default and adds opt-in
# OpenSSL verification: :ca_file / :ca_path / :ca_default turn on chain
# verification, and then :verify_hostname (default true) checks the peer's
# name against :sni_hostname or the host connected to. ssl_verify_peer may
# still reject, but never accept a chain OpenSSL rejected. A rejection means
# unbind (Errno::EPROTO, as for any failed handshake) before any data, without
# ssl_handshake_completed.
RSpec.describe "TLS peer verification" do
  def server_with(cert_file) = { private_key_file: certs.server_key_file, cert_chain_file: cert_file }

  # A client that sends "ping" after start_tls (held until the handshake) and
  # closes when the echo is back; returns [server, client].
  def verify_pair(server_tls, client_tls, **client_more)
    srv, cl, = tls_pair(server: { tls: server_tls, echo: true },
                        client: { tls: client_tls, send: "ping",
                                  on_data: ->(c, _) { c.close_connection if c.received.bytesize >= 4 } }.merge(client_more))
    [srv, cl]
  end

  def expect_accepted(srv, cl)
    expect(cl.handshake?).to be(true), "client events #{cl.events}, reason #{cl.reason.inspect}"
    expect(cl.received).to eq("ping")
    expect(srv.received).to eq("ping")
    expect(cl.reason).to be_nil
  end

  def expect_rejected(srv, cl)
    expect(cl.events).not_to include(:handshake, :data)
    expect(cl.events.last).to eq(:unbind)
    expect(cl.reason).to eq(Errno::EPROTO)
    expect(cl.received).to eq("")
    expect(srv.handshake?).to be(false)
    expect(srv.received).to eq("")
  end

  describe "EventMachine's default: no chain or hostname check" do
    {
      "self-signed" => :self_signed_cert_file, "expired" => :expired_cert_file, "for another host" => :wrong_host_cert_file
    }.each do |what, file|
      it "a client without options completes the handshake with a #{what} certificate" do
        srv, cl = verify_pair(server_with(certs.public_send(file)), { sni_hostname: "localhost" })
        expect_accepted(srv, cl)
      end

      it "with verify_peer, ssl_verify_peer alone decides for a #{what} certificate (true accepts)" do
        srv, cl = verify_pair(server_with(certs.public_send(file)), { verify_peer: true, sni_hostname: "localhost" })
        expect(cl.verified).not_to be_empty
        expect_accepted(srv, cl)
      end
    end
  end

  describe "opt-in chain verification (:ca_file, :ca_path, :ca_default) and :verify_hostname",
           em_rust_only: "EM has no CA store or hostname check" do
    it ":ca_file: a chain to that CA, for the sni_hostname, is accepted" do
      expect_accepted(*verify_pair(certs.server_opts, { ca_file: certs.ca_file, sni_hostname: "localhost" }))
    end

    it ":ca_file: a server sending only its leaf is accepted too (the CA comes from the file)" do
      expect_accepted(*verify_pair(server_with(certs.server_cert_file), { ca_file: certs.ca_file, sni_hostname: "localhost" }))
    end

    it ":ca_path: a directory of hashed CA certificates" do
      expect_accepted(*verify_pair(certs.server_opts, { ca_path: certs.ca_dir, sni_hostname: "localhost" }))
    end

    it "a self-signed certificate is rejected" do
      expect_rejected(*verify_pair(server_with(certs.self_signed_cert_file), { ca_file: certs.ca_file, sni_hostname: "localhost" }))
    end

    it "the built-in default server certificate is rejected" do
      expect_rejected(*verify_pair({}, { ca_file: certs.ca_file }))
    end

    it "an expired certificate is rejected" do
      expect_rejected(*verify_pair(server_with(certs.expired_cert_file), { ca_file: certs.ca_file, sni_hostname: "localhost" }))
    end

    it "an expired certificate is rejected even with verify_hostname: false" do
      expect_rejected(*verify_pair(server_with(certs.expired_cert_file),
                                   { ca_file: certs.ca_file, sni_hostname: "localhost", verify_hostname: false }))
    end

    it "a certificate for another host (valid chain) is rejected: the name checked is sni_hostname" do
      expect_rejected(*verify_pair(server_with(certs.wrong_host_cert_file), { ca_file: certs.ca_file, sni_hostname: "localhost" }))
    end

    it "sni_hostname naming the certificate's host is accepted even though 127.0.0.1 was connected to" do
      expect_accepted(*verify_pair(server_with(certs.wrong_host_cert_file), { ca_file: certs.ca_file, sni_hostname: "wrong.example" }))
    end

    it "without sni_hostname the name checked is the connect host: 127.0.0.1 matches an IP SAN" do
      expect_accepted(*verify_pair(certs.server_opts, { ca_file: certs.ca_file }))
      expect_rejected(*verify_pair(server_with(certs.wrong_host_cert_file), { ca_file: certs.ca_file }))
    end

    it "verify_hostname: false accepts a valid chain for another host" do
      expect_accepted(*verify_pair(server_with(certs.wrong_host_cert_file),
                                   { ca_file: certs.ca_file, sni_hostname: "localhost", verify_hostname: false }))
    end

    it "with verify_peer, ssl_verify_peer may still reject a chain OpenSSL accepted" do
      srv, cl = verify_pair(certs.server_opts, { ca_file: certs.ca_file, sni_hostname: "localhost", verify_peer: true }, verify: false)
      expect(cl.verified).not_to be_empty
      expect_rejected(srv, cl)
    end

    it "with verify_peer, ssl_verify_peer answering true never accepts a chain OpenSSL rejected" do
      %i[self_signed_cert_file expired_cert_file wrong_host_cert_file].each do |file|
        srv, cl = verify_pair(server_with(certs.public_send(file)),
                              { ca_file: certs.ca_file, sni_hostname: "localhost", verify_peer: true }, verify: true)
        expect_rejected(srv, cl)
      end
    end

    it "with verify_peer and a chain OpenSSL accepts, ssl_verify_peer answering true completes the handshake" do
      srv, cl = verify_pair(certs.server_opts, { ca_file: certs.ca_file, sni_hostname: "localhost", verify_peer: true })
      expect(cl.verified).not_to be_empty
      expect(cl.verified.last).to eq(certs.server_cert.to_pem)
      expect_accepted(srv, cl)
    end

    describe ":ca_default (the system store; OpenSSL's SSL_CERT_FILE / SSL_CERT_DIR), in a child process" do
      # Runs a server with the localhost chain and a client with
      # {ca_default: true, sni_hostname: "localhost"} in a fresh ruby with `env`;
      # returns what the client saw: "handshake ping" or "unbind <reason>".
      def ca_default_child(env)
        code = <<~RUBY
          require "openssl"
          $stdout.sync = true
          result = nil
          srv_class = Class.new(EM::Connection) do
            def post_init = start_tls(private_key_file: #{certs.server_key_file.inspect}, cert_chain_file: #{certs.chain_file.inspect})
            def receive_data(d) = send_data(d)
          end
          cl_class = Class.new(EM::Connection) do
            define_method(:connection_completed) { start_tls(ca_default: true, sni_hostname: "localhost"); send_data("ping") }
            define_method(:ssl_handshake_completed) { @hs = true }
            define_method(:receive_data) { |d| result = "handshake=\#{@hs} \#{d}"; close_connection }
            define_method(:unbind) { |reason = nil| result ||= "unbind \#{reason.inspect}"; EM.stop }
          end
          EM.run do
            EM.add_timer(10) { result = "timeout"; EM.stop }
            sig = EM.start_server("127.0.0.1", 0, srv_class)
            EM.connect("127.0.0.1", Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0], cl_class)
          end
          puts "RESULT \#{result}"
        RUBY
        r = run_ruby(code, timeout: bound(15), env: env)
        r.output[/^RESULT (.*)$/, 1] || raise("child printed no RESULT (#{r.status.inspect}):\n#{r.output}")
      end

      it "accepts a chain to a CA the default store holds" do
        empty = File.join(tmpdir, "empty_ca_dir").tap { |d| FileUtils.mkdir_p(d) }
        expect(ca_default_child("SSL_CERT_FILE" => certs.ca_file, "SSL_CERT_DIR" => empty)).to eq("handshake=true ping")
      end

      it "rejects a chain to a CA the default store lacks" do
        empty = File.join(tmpdir, "empty_ca_dir").tap { |d| FileUtils.mkdir_p(d) }
        expect(ca_default_child("SSL_CERT_FILE" => certs.self_signed_cert_file, "SSL_CERT_DIR" => empty))
          .to eq("unbind Errno::EPROTO")
      end
    end
  end
  describe "ssl_verify_peer using its connection (as in EM: the handshake is in progress)" do
    it "reads the peer's address and the cipher negotiated so far; data it sends goes out after the handshake" do
      seen = []
      check = lambda do |_pem, conn|
        port = Socket.unpack_sockaddr_in(conn.get_peername)[0]
        seen << [port.positive?, conn.get_cipher_name.class, conn.get_cipher_bits.class, conn.get_cipher_protocol.class]
        conn.send_data("early ") if seen.size == 1
        true
      end
      srv, cl = verify_pair(certs.server_opts, { verify_peer: true }, verify: check)
      expect(seen.first).to eq([true, String, Integer, String])
      expect(cl.handshake?).to be(true)
      expect(srv.received).to eq("pingearly ") # "ping" was queued at start_tls, before the handshake
      expect(cl.received).to start_with("ping")
    end

    it "may close the connection: the handshake completes, then unbind, with no data" do
      check = lambda do |_pem, conn|
        conn.close_connection
        true
      end
      srv, cl = verify_pair(certs.server_opts, { verify_peer: true }, verify: check)
      expect(cl.events).not_to include(:data)
      expect(cl.events.last).to eq(:unbind)
      expect(srv.received).to eq("") # close_connection drops what is unsent, "ping" too
    end
  end
end
