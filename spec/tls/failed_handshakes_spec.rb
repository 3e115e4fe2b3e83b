# frozen_string_literal: true
require "spec_helper"

# A handshake that cannot succeed ends in unbind on the EM side, promptly,
# without ssl_handshake_completed and without any application data: never a
# hang, never a crash. The end that detects the failure unbinds with
# Errno::EPROTO; its peer sees the connection close.
RSpec.describe "failed TLS handshakes" do
  # Runs a pair whose handshake should fail; returns [server, client, seconds].
  def failing_pair(server_tls, client_tls, **more)
    t0 = now
    srv, cl, = tls_pair(server: { tls: server_tls, echo: true }, client: { tls: client_tls, send: "secret" }, **more)
    elapsed = now - t0
    expect(srv.handshake?).to be(false)
    expect(cl.handshake?).to be(false)
    expect(srv.received).to eq("")
    expect(cl.received).to eq("")
    expect(elapsed).to be < bound(5)
    [srv, cl, elapsed]
  end

  it "ssl_verify_peer returning false for a self-signed server certificate: client unbinds with EPROTO" do
    t0 = now
    srv, cl, = tls_pair(server: { tls: { private_key_file: certs.server_key_file, cert_chain_file: certs.self_signed_cert_file } },
                        client: { tls: { verify_peer: true }, send: "secret",
                                  verify: ->(pem, _) { OpenSSL::X509::Certificate.new(pem).issuer.to_s == "/CN=em_rust test CA" } })
    expect(now - t0).to be < bound(5)
    expect(cl.verified).to eq([certs.self_signed_cert.to_pem])
    expect(cl.handshake?).to be(false)
    expect(cl.reason).to eq(Errno::EPROTO)
    expect(srv.handshake?).to be(false)
    expect(srv.received).to eq("")
  end

  it "protocol mismatch: server TLS 1.3 only, client TLS 1.2 only: the server unbinds with EPROTO" do
    srv, cl, = failing_pair(certs.server_opts.merge(ssl_version: "tlsv1_3"), { ssl_version: "tlsv1_2" })
    expect(srv.reason).to eq(Errno::EPROTO)
    expect(cl.unbound?).to be(true)
  end

  it "protocol mismatch: server TLS 1.2 only, client TLS 1.3 only" do
    srv, cl, = failing_pair(certs.server_opts.merge(ssl_version: "tlsv1_2"), { ssl_version: "tlsv1_3" })
    expect(srv.reason).to eq(Errno::EPROTO)
    expect(cl.unbound?).to be(true)
  end

  it "no cipher in common (server TLS 1.2 DHE-only without DH parameters vs a client allowing only ECDHE)" do
    srv, = failing_pair(certs.server_opts.merge(ssl_version: "tlsv1_2", cipher_list: "DHE-RSA-AES256-GCM-SHA384", dhparam: certs.dhparam_file),
                        { cipher_list: "ECDHE-RSA-AES256-GCM-SHA384", ssl_version: "tlsv1_2" })
    expect(srv.reason).to eq(Errno::EPROTO)
  end

  it "a plain-text peer writing an HTTP request to a TLS server: the server unbinds with EPROTO and closes the socket" do
    accepted = nil
    raw_result = nil
    t0 = now
    run_em(12) do
      port, accepted = start_tls_server
      th = tls_thread do
        sock = TCPSocket.new(TlsHelpers::HOST, port)
        sock.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        deadline = now + bound(5)
        got = +"".b
        loop do
          raise "the TLS server never closed the plain-text connection" unless IO.select([sock], nil, nil, [deadline - now, 0].max)
          chunk = sock.read_nonblock(4096, exception: false)
          break if chunk.nil?
          got << chunk unless chunk == :wait_readable
        rescue Errno::ECONNRESET
          break
        end
        sock.close
        got
      end
      stop_when(timeout: 10, what: "the server's unbind") { !th.alive? && accepted.size == 1 && accepted.first.unbound? }
      raw_result = th
    end
    expect(now - t0).to be < bound(5)
    expect(raw_result.value).not_to include("HTTP")
    srv = accepted.first
    expect(srv.events).to eq(%i[post_init start_tls unbind])
    expect(srv.reason).to eq(Errno::EPROTO)
  end

  it "a TLS client talking to a plain-text server that speaks first: the client unbinds with EPROTO" do
    plain = Class.new(EM::Connection) do
      def post_init = send_data("220 plain-text service ready\r\n")
    end
    cl = nil
    t0 = now
    run_em(12) do
      _, port = start_server_on_free_port(plain)
      cl = tls_connect(port, { send: "secret" })
      stop_when(timeout: 10, what: "the client's unbind") { cl.unbound? }
    end
    expect(now - t0).to be < bound(5)
    expect(cl.handshake?).to be(false)
    expect(cl.reason).to eq(Errno::EPROTO)
    expect(cl.received).to eq("")
  end

  it "the peer closing in the middle of the handshake: the server unbinds without a handshake" do
    accepted = nil
    run_em(12) do
      port, accepted = start_tls_server
      th = tls_thread do
        sock = TCPSocket.new(TlsHelpers::HOST, port)
        sock.write("\x16\x03\x01\x00".b) # the start of a ClientHello record
        sock.close
      end
      stop_when(timeout: 10, what: "the server's unbind") { !th.alive? && accepted.size == 1 && accepted.first.unbound? }
    end
    expect(accepted.first.events).to eq(%i[post_init start_tls unbind])
  end

  it "a Ruby client that rejects the server certificate: the EM server unbinds without a handshake" do
    accepted = nil
    client = nil
    run_em(12) do
      port, accepted = start_tls_server(tls: { private_key_file: certs.server_key_file, cert_chain_file: certs.self_signed_cert_file })
      client = ruby_tls_client(port, ctx: ruby_client_ctx(verify: true), hostname: "localhost") { :connected }
      stop_when(timeout: 10, what: "the server's unbind") { !client.alive? && accepted.size == 1 && accepted.first.unbound? }
    end
    expect { client.value }.to raise_error(OpenSSL::SSL::SSLError, /certificate verify failed/)
    expect(accepted.first.handshake?).to be(false)
    expect(accepted.first.received).to eq("")
  end

  it "a silent peer: the handshake waits (there is no handshake timeout) until comm_inactivity_timeout ends it with ETIMEDOUT" do
    cl = nil
    t0 = now
    run_em(12) do
      _, port = start_server_on_free_port(EM::Connection) # accepts, never answers
      cl = tls_connect(port, { on_handshake: nil })
      cl.comm_inactivity_timeout = 0.5
      stop_when(timeout: 10, what: "the client's unbind") { cl.unbound? }
    end
    expect(now - t0).to be_between(0.4, bound(5))
    expect(cl.handshake?).to be(false)
    expect(cl.reason).to eq(Errno::ETIMEDOUT)
  end
end
