# frozen_string_literal: true
require "spec_helper"

# TLS is OpenSSL-shaped: protocol selection with :ssl_version, OpenSSL cipher
# strings, DHE with a dhparam file, ECDH curves, and OpenSSL's names for what
# was negotiated. Plus the constants and capability answers callers probe.
RSpec.describe "TLS protocols, ciphers and constants" do
  def ping_pair(server_tls, client_tls = {})
    tls_pair(server: { tls: server_tls, echo: true },
             client: { tls: client_tls, send: "ping", on_data: ->(c, _) { c.close_connection if c.received.bytesize >= 4 } })
  end

  # [protocol, cipher name, bits] as both ends report them (asserted equal).
  def negotiated(server_tls, client_tls = {})
    srv, cl, = ping_pair(server_tls, client_tls)
    expect(cl.handshake?).to be(true), "no handshake: server #{srv.events}, client #{cl.events}"
    expect(cl.received).to eq("ping")
    s = srv.at_handshake.values_at(:protocol, :name, :bits)
    c = cl.at_handshake.values_at(:protocol, :name, :bits)
    expect(s).to eq(c)
    c
  end

  def handshake_fails(server_tls, client_tls = {})
    srv, cl, = ping_pair(server_tls, client_tls)
    expect(srv.handshake?).to be(false)
    expect(cl.handshake?).to be(false)
    expect(srv.received).to eq("")
    expect(cl.received).to eq("")
    [srv, cl]
  end

  # Connects a Ruby SSLSocket client to an EM server started with `server_tls`;
  # returns what the Ruby side saw: { version:, cipher:, tmp_key: }.
  def ruby_client_sees(server_tls, ctx: ruby_client_ctx)
    seen = nil
    run_em(12) do
      port, = start_tls_server(tls: server_tls, echo: true)
      th = ruby_tls_client(port, ctx: ctx, hostname: "localhost") do |ssl, deadline|
        ssl_write_all(ssl, "ping", deadline)
        echoed = ssl_read_exactly(ssl, 4, deadline)
        key = ssl.tmp_key
        { version: ssl.ssl_version, cipher: ssl.cipher[0], echoed: echoed,
          tmp_key: key.is_a?(OpenSSL::PKey::EC) ? key.group.curve_name : key&.oid }
      end
      stop_when(timeout: 10, what: "the Ruby client") { !th.alive? }
      seen = th
    end
    seen.value
  end

  describe "constants and capabilities" do
    it "EM.ssl? is true and the TLS entry points are there" do
      expect(EM.ssl?).to be(true)
      %i[set_tls_parms start_tls get_peer_cert get_cipher_bits get_cipher_name get_cipher_protocol get_sni_hostname].each do |m|
        expect(EM).to respond_to(m)
      end
      %i[start_tls get_peer_cert get_cipher_bits get_cipher_name get_cipher_protocol get_sni_hostname
         ssl_handshake_completed ssl_verify_peer].each do |m|
        expect(EM::Connection.method_defined?(m)).to be(true), "EM::Connection##{m}"
      end
    end

    it "EM_PROTO_* are the protocol bits, EM_PROTO_TLSv1_3 defined (OpenSSL 1.1.1+)" do
      expect(EM.const_defined?(:EM_PROTO_TLSv1_3)).to be(true)
      expect(%i[EM_PROTO_SSLv2 EM_PROTO_SSLv3 EM_PROTO_TLSv1 EM_PROTO_TLSv1_1 EM_PROTO_TLSv1_2 EM_PROTO_TLSv1_3]
               .map { |c| EM.const_get(c) }).to eq([2, 4, 8, 16, 32, 64])
    end

    it "OPENSSL_NO_SSL2 and OPENSSL_NO_SSL3 are true" do
      expect(EM::OPENSSL_NO_SSL2).to be(true)
      expect(EM::OPENSSL_NO_SSL3).to be(true)
    end

    it "OPENSSL_VERSION and OPENSSL_LIBRARY_VERSION read \"OpenSSL x.y.z <date>\"; the library one is the libssl in use" do
      [EM::OPENSSL_VERSION, EM::OPENSSL_LIBRARY_VERSION].each do |v|
        expect(v).to be_a(String)
        expect(v).to match(/\AOpenSSL \d+\.\d+\.\d+[a-z]* .+\z/)
      end
      expect(EM::OPENSSL_LIBRARY_VERSION).to eq(OpenSSL::OPENSSL_LIBRARY_VERSION)
      major = ->(v) { v[/\AOpenSSL (\d+)\./, 1] }
      expect(major.(EM::OPENSSL_VERSION)).to eq(major.(EM::OPENSSL_LIBRARY_VERSION))
    end
  end

  describe ":ssl_version" do
    it "default: TLS 1.3, TLS_AES_256_GCM_SHA384, 256 bits" do
      expect(negotiated(certs.server_opts)).to eq(["TLSv1.3", "TLS_AES_256_GCM_SHA384", 256])
    end

    it "\"TLSv1_2\" on the server: TLS 1.2 with ECDHE-RSA-AES256-GCM-SHA384" do
      expect(negotiated(certs.server_opts.merge(ssl_version: "TLSv1_2"))).to eq(["TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 256])
    end

    it "an Array of Symbols on the client, any case" do
      expect(negotiated(certs.server_opts, { ssl_version: [:TlSv1_2] })).to eq(["TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 256])
      expect(negotiated(certs.server_opts, { ssl_version: "TLSV1_3" })).to eq(["TLSv1.3", "TLS_AES_256_GCM_SHA384", 256])
    end

    it "several versions: the highest both allow" do
      expect(negotiated(certs.server_opts.merge(ssl_version: %w[tlsv1_2 tlsv1_3]), { ssl_version: %w[TLSv1_2] })[0]).to eq("TLSv1.2")
      expect(negotiated(certs.server_opts.merge(ssl_version: %w[tlsv1_2 tlsv1_3]), { ssl_version: %w[TLSv1_2 tlsv1_3] })[0]).to eq("TLSv1.3")
    end

    it "a Ruby client limited to TLS 1.2 gets TLS 1.2 from a default server" do
      seen = ruby_client_sees(certs.server_opts, ctx: ruby_client_ctx(max_version: OpenSSL::SSL::TLS1_2_VERSION))
      expect(seen).to include(version: "TLSv1.2", cipher: "ECDHE-RSA-AES256-GCM-SHA384", echoed: "ping")
    end

    it "sslv2 / sslv3 pass start_tls's check but no such protocol is available: the handshake fails" do
      srv, = handshake_fails(certs.server_opts.merge(ssl_version: "SSLv3"), { ssl_version: "sslv3" })
      expect(srv.error).to be_nil
      srv, = handshake_fails(certs.server_opts.merge(ssl_version: "sslv2"))
      expect(srv.reason).to eq(Errno::EPROTO)
    end

    it "an empty Array allows no protocol: the handshake fails" do
      srv, = handshake_fails(certs.server_opts.merge(ssl_version: []))
      expect(srv.reason).to eq(Errno::EPROTO)
    end
  end

  describe ":cipher_list, :dhparam, :ecdh_curve" do
    it "\"DHE,EDH\" with TLS 1.2 and a dhparam file negotiates DHE-RSA-AES256-GCM-SHA384" do
      opts = certs.server_opts.merge(ssl_version: "tlsv1_2", cipher_list: "DHE,EDH", dhparam: certs.dhparam_file)
      expect(negotiated(opts)).to eq(["TLSv1.2", "DHE-RSA-AES256-GCM-SHA384", 256])
      seen = ruby_client_sees(opts)
      expect(seen).to include(version: "TLSv1.2", cipher: "DHE-RSA-AES256-GCM-SHA384", tmp_key: "dhKeyAgreement")
    end

    it "TLS 1.2 with DHE needs no dhparam file (automatic DH parameters)",
       em_rust_only: "EM has no automatic DH parameters (no shared cipher without :dhparam)" do
      opts = certs.server_opts.merge(ssl_version: "tlsv1_2", cipher_list: "DHE,EDH")
      expect(negotiated(opts)).to eq(["TLSv1.2", "DHE-RSA-AES256-GCM-SHA384", 256])
    end

    it "a client :cipher_list picks the cipher; get_cipher_bits follows it" do
      opts = certs.server_opts.merge(ssl_version: "tlsv1_2", cipher_list: "DHE,EDH", dhparam: certs.dhparam_file)
      expect(negotiated(opts, { cipher_list: "DHE-RSA-AES128-GCM-SHA256" })).to eq(["TLSv1.2", "DHE-RSA-AES128-GCM-SHA256", 128])
    end

    it "get_cipher_protocol is the protocol version of the cipher (OpenSSL's SSL_CIPHER_get_version): \"SSLv3\" for AES128-SHA over TLS 1.2" do
      expect(negotiated(certs.server_opts.merge(ssl_version: "tlsv1_2", cipher_list: "AES128-SHA"))).to eq(["SSLv3", "AES128-SHA", 128])
    end

    it ":ecdh_curve sets the key-exchange group, for TLS 1.2 and TLS 1.3 (default X25519)" do
      expect(ruby_client_sees(certs.server_opts)).to include(version: "TLSv1.3", tmp_key: "X25519")
      expect(ruby_client_sees(certs.server_opts.merge(ecdh_curve: "prime256v1", ssl_version: "tlsv1_2")))
        .to include(version: "TLSv1.2", cipher: "ECDHE-RSA-AES256-GCM-SHA384", tmp_key: "prime256v1")
      expect(ruby_client_sees(certs.server_opts.merge(ecdh_curve: "secp384r1"))).to include(version: "TLSv1.3", tmp_key: "secp384r1")
    end

    it "an EM client completes a TLS 1.2 handshake with an EM server using :ecdh_curve" do
      expect(negotiated(certs.server_opts.merge(ecdh_curve: "prime256v1", ssl_version: "tlsv1_2"))[0]).to eq("TLSv1.2")
    end
  end
end
