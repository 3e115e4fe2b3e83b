# frozen_string_literal: true
require "spec_helper"

# The TLS handshake between two EM connections: the order of the callbacks,
# what ssl_verify_peer is given (and what its answer does), and what the
# getters return before and after the handshake. EM's verify_peer is
# callback-only: no CA store, so ssl_verify_peer sees OpenSSL's verify
# callback as it runs (once per certificate per verification error, then
# once per certificate of the chain).
RSpec.describe "TLS handshake (start_tls, ssl_handshake_completed, ssl_verify_peer)" do
  # A client that sends `msg` after start_tls and closes once the echo is back.
  def echo_pair(msg: "hello", server: {}, client: {}, **more)
    tls_pair(server: { echo: true }.merge(server),
             client: { send: msg, on_data: ->(c, _) { c.close_connection if c.received.bytesize >= msg.bytesize } }.merge(client),
             **more)
  end

  def events_of(log, role) = log.select { |r, _| r == role }.map(&:last)

  describe "callback order" do
    it "client: post_init, connection_completed, handshake, data, unbind; server: post_init, handshake, data, unbind" do
      srv, cl, log = echo_pair
      expect(events_of(log, :client)).to eq(%i[post_init connection_completed start_tls handshake data unbind])
      expect(events_of(log, :server)).to eq(%i[post_init start_tls handshake data unbind])
      expect(cl.received).to eq("hello")
      expect(srv.received).to eq("hello")
      expect([cl.reason, srv.reason]).to eq([nil, nil])
    end

    it "start_tls in the client's post_init (before the connect completes): connection_completed still comes first" do
      _, cl, log = echo_pair(client: { start_in: :post_init })
      expect(events_of(log, :client)).to eq(%i[post_init start_tls connection_completed handshake data unbind])
      expect(cl.received).to eq("hello")
    end

    it "data sent before the handshake completes is held and delivered after it, in order" do
      got = []
      tls_pair(
        server: { on_data: ->(s, _) { got << s.received.dup } },
        client: { send: "early:", on_handshake: ->(c) { c.send_data("late"); c.close_connection_after_writing } }
      )
      expect(got.last).to eq("early:late")
    end

    it "ssl_handshake_completed is called once per end" do
      srv, cl, = echo_pair
      expect(srv.events.count(:handshake)).to eq(1)
      expect(cl.events.count(:handshake)).to eq(1)
    end
  end

  describe "getters" do
    it "right after start_tls, before the handshake: get_peer_cert nil, get_cipher_bits nil, name and protocol \"(NONE)\"" do
      srv, cl, = echo_pair
      expected = { peer_cert: nil, bits: nil, name: "(NONE)", protocol: "(NONE)", sni: nil }
      expect(srv.after_start).to eq(expected)
      expect(cl.after_start).to eq(expected)
    end

    it "after the handshake: the client has the server's certificate as PEM; TLS 1.3 with TLS_AES_256_GCM_SHA384, 256 bits" do
      srv, cl, = echo_pair
      expect(cl.at_handshake).to eq(peer_cert: certs.server_cert.to_pem, bits: 256, name: "TLS_AES_256_GCM_SHA384",
                                    protocol: "TLSv1.3", sni: nil)
      expect(cl.at_handshake[:peer_cert]).to be_a(String)
      # A server without verify_peer asks for no client certificate.
      expect(srv.at_handshake).to eq(peer_cert: nil, bits: 256, name: "TLS_AES_256_GCM_SHA384", protocol: "TLSv1.3", sni: nil)
    end

    it "get_peer_cert is the peer's leaf PEM exactly as OpenSSL writes it (parses back to the same certificate)" do
      _, cl, = echo_pair
      pem = cl.at_handshake[:peer_cert]
      expect(pem).to start_with("-----BEGIN CERTIFICATE-----\n")
      expect(pem).to end_with("-----END CERTIFICATE-----\n")
      expect(OpenSSL::X509::Certificate.new(pem).to_der).to eq(certs.server_cert.to_der)
    end

    it "get_sni_hostname: the client returns the sni_hostname it set (at once); the server returns what the client sent" do
      srv, cl, = echo_pair(client: { tls: { sni_hostname: "localhost" } })
      expect(cl.after_start[:sni]).to eq("localhost")
      expect(cl.at_handshake[:sni]).to eq("localhost")
      expect(srv.after_start[:sni]).to be_nil
      expect(srv.at_handshake[:sni]).to eq("localhost")
    end

    it "get_sni_hostname: any name is sent as given, even an IP literal; a server's own :sni_hostname option is ignored" do
      srv, = echo_pair(server: { tls: certs.server_opts.merge(sni_hostname: "server.example") },
                       client: { tls: { sni_hostname: "127.0.0.1" } })
      expect(srv.at_handshake[:sni]).to eq("127.0.0.1")
      srv, = echo_pair(server: { tls: certs.server_opts.merge(sni_hostname: "server.example") })
      expect(srv.at_handshake[:sni]).to be_nil
    end
  end

  describe "misuse that EM answers by aborting the process (uncaught C++ std::runtime_error)",
           em_rust_only: "EM aborts the process (uncaught C++ exception)" do
    it "TLS getters on a plain connection return nil or raise RuntimeError" do
      results = {}
      tls_pair(server: { tls: nil }, client: { tls: nil, on_unbind: nil },
               until_cond: lambda { |_, c|
                 return false unless c.events.include?(:connection_completed)
                 %i[get_peer_cert get_cipher_bits get_cipher_name get_cipher_protocol get_sni_hostname].each do |m|
                   results[m] = begin
                     c.public_send(m)
                   rescue RuntimeError => e
                     e
                   end
                 end
                 true
               })
      expect(results.size).to eq(5)
      results.each { |m, v| expect(v.nil? || v.is_a?(RuntimeError)).to be(true), "#{m} gave #{v.inspect}" }
    end

    it "a second start_tls on the same connection neither crashes nor breaks the session" do
      twice = Class.new(TlsHelpers::TlsEnd) do
        attr_reader :second

        def start_tls_now
          super
          @second = begin
            start_tls
            :returned
          rescue RuntimeError => e
            e
          end
        end
      end
      srv, cl, = echo_pair(client_class: twice)
      expect(cl.second == :returned || cl.second.is_a?(RuntimeError)).to be(true), cl.second.inspect
      expect(cl.received).to eq("hello")
      expect(srv.received).to eq("hello")
    end
  end

  describe "a server given no certificate" do
    it "uses a built-in default: a self-signed RSA certificate, valid now; the handshake completes" do
      srv, cl, = echo_pair(server: { tls: {} })
      expect(srv.handshake?).to be(true)
      cert = OpenSSL::X509::Certificate.new(cl.at_handshake[:peer_cert])
      expect(cert.issuer.to_s).to eq(cert.subject.to_s)
      expect(cert.public_key).to be_a(OpenSSL::PKey::RSA)
      expect(cert.not_before).to be <= Time.now
      expect(cert.not_after).to be > Time.now
      expect(cl.received).to eq("hello")
    end

    it "the same default for empty-string key and cert options" do
      _, cl, = echo_pair(server: { tls: { private_key_file: "", cert_chain_file: "", private_key: "", cert: "" } })
      cert = OpenSSL::X509::Certificate.new(cl.at_handshake[:peer_cert])
      expect(cert.issuer.to_s).to eq(cert.subject.to_s)
      expect(cl.received).to eq("hello")
    end
  end

  describe "verify_peer on the client: ssl_verify_peer(pem)" do
    it "is not called without verify_peer, even when defined" do
      srv, cl, = echo_pair
      expect(cl.verified).to eq([])
      expect(srv.verified).to eq([])
    end

    it "server sends leaf + CA (cert_chain_file): called 3 times, CA, CA, leaf, before ssl_handshake_completed" do
      _, cl, log = echo_pair(client: { tls: { verify_peer: true } })
      expect(cl.verified).to eq([certs.ca_cert.to_pem, certs.ca_cert.to_pem, certs.server_cert.to_pem])
      expect(events_of(log, :client)).to eq(%i[post_init connection_completed start_tls verify verify verify handshake data unbind])
      expect(cl.at_handshake[:peer_cert]).to eq(certs.server_cert.to_pem)
    end

    it "server sends only its leaf: called 3 times with the leaf" do
      _, cl, = echo_pair(server: { tls: { private_key_file: certs.server_key_file, cert_chain_file: certs.server_cert_file } },
                         client: { tls: { verify_peer: true } })
      expect(cl.verified).to eq([certs.server_cert.to_pem] * 3)
      expect(cl.received).to eq("hello")
    end

    it "a self-signed server certificate: called 2 times with it" do
      _, cl, = echo_pair(server: { tls: { private_key_file: certs.server_key_file, cert_chain_file: certs.self_signed_cert_file } },
                         client: { tls: { verify_peer: true } })
      expect(cl.verified).to eq([certs.self_signed_cert.to_pem] * 2)
    end

    it "the built-in default certificate: called 2 times with it" do
      _, cl, = echo_pair(server: { tls: {} }, client: { tls: { verify_peer: true } })
      expect(cl.verified.size).to eq(2)
      expect(cl.verified.uniq).to eq([cl.at_handshake[:peer_cert]])
    end

    it "the server's :cert PEM string sends only its first certificate (no chain)" do
      opts = { private_key: certs.server_key_pem, cert: certs.server_cert_pem + certs.ca_cert_pem }
      _, cl, = echo_pair(server: { tls: opts }, client: { tls: { verify_peer: true } })
      expect(cl.verified_subjects).to eq(["/CN=localhost"] * 3)
    end

    it "any truthy answer accepts" do
      _, cl, = echo_pair(client: { tls: { verify_peer: true }, verify: "yes" })
      expect(cl.verified.size).to eq(3)
      expect(cl.handshake?).to be(true)
      expect(cl.received).to eq("hello")
    end

    [false, nil].each do |answer|
      it "answering #{answer.inspect} stops at that call: no handshake on either end, the client unbinds with EPROTO, nothing is delivered" do
        srv, cl, = echo_pair(client: { tls: { verify_peer: true }, verify: answer })
        expect(cl.verified).to eq([certs.ca_cert.to_pem])
        expect(cl.events).to eq(%i[post_init connection_completed start_tls verify unbind])
        expect(cl.reason).to eq(Errno::EPROTO)
        expect(srv.events).not_to include(:handshake, :data)
        expect(srv.unbound?).to be(true)
        expect(srv.received).to eq("")
        expect(cl.received).to eq("")
      end
    end

    it "a false answer to a later call rejects after exactly that many calls" do
      calls = 0
      srv, cl, = echo_pair(client: { tls: { verify_peer: true }, verify: ->(_pem, _c) { (calls += 1) != 2 } })
      expect(cl.verified.size).to eq(2)
      expect(cl.handshake?).to be(false)
      expect(cl.reason).to eq(Errno::EPROTO)
      expect(srv.handshake?).to be(false)
    end
  end

  describe "verify_peer on the server (client certificates)" do
    it "a client certificate: ssl_verify_peer gets it (3 calls: no CA store); get_peer_cert returns it; TLS 1.3 completes the client first" do
      srv, _, log = echo_pair(server: { tls: certs.server_opts.merge(verify_peer: true) },
                              client: { tls: certs.client_opts })
      expect(srv.verified).to eq([certs.client_cert.to_pem] * 3)
      expect(srv.at_handshake[:peer_cert]).to eq(certs.client_cert.to_pem)
      expect(events_of(log, :server)).to eq(%i[post_init start_tls verify verify verify handshake data unbind])
      expect(log.index([:client, :handshake])).to be < log.index([:server, :verify])
      expect(srv.received).to eq("hello")
    end

    it "client certificate from PEM strings (:private_key / :cert)" do
      srv, = echo_pair(server: { tls: certs.server_opts.merge(verify_peer: true) },
                       client: { tls: { private_key: certs.client_key_pem, cert: certs.client_cert_pem } })
      expect(srv.at_handshake[:peer_cert]).to eq(certs.client_cert.to_pem)
    end

    it "no client certificate: no ssl_verify_peer call, the handshake completes, get_peer_cert is nil" do
      srv, = echo_pair(server: { tls: certs.server_opts.merge(verify_peer: true) })
      expect(srv.verified).to eq([])
      expect(srv.handshake?).to be(true)
      expect(srv.at_handshake[:peer_cert]).to be_nil
      expect(srv.received).to eq("hello")
    end

    it "no client certificate with fail_if_no_peer_cert: the server unbinds with EPROTO, without a handshake or data" do
      srv, cl, = echo_pair(server: { tls: certs.server_opts.merge(verify_peer: true, fail_if_no_peer_cert: true) })
      expect(srv.events).to eq(%i[post_init start_tls unbind])
      expect(srv.reason).to eq(Errno::EPROTO)
      expect(srv.received).to eq("")
      expect(cl.unbound?).to be(true)
      expect(cl.received).to eq("")
    end

    it "fail_if_no_peer_cert without verify_peer has no effect" do
      srv, = echo_pair(server: { tls: certs.server_opts.merge(fail_if_no_peer_cert: true) })
      expect(srv.handshake?).to be(true)
      expect(srv.received).to eq("hello")
    end

    it "the server rejecting the client certificate: server unbinds with EPROTO, never sees the client's data" do
      srv, cl, = echo_pair(server: { tls: certs.server_opts.merge(verify_peer: true), verify: false },
                           client: { tls: certs.client_opts })
      expect(srv.verified.size).to eq(1)
      expect(srv.handshake?).to be(false)
      expect(srv.reason).to eq(Errno::EPROTO)
      expect(srv.received).to eq("")
      expect(cl.unbound?).to be(true)
      expect(cl.received).to eq("")
    end

    it "without verify_peer the server asks for no certificate: the client's is not sent" do
      srv, = echo_pair(client: { tls: certs.client_opts })
      expect(srv.verified).to eq([])
      expect(srv.at_handshake[:peer_cert]).to be_nil
    end
  end
end
