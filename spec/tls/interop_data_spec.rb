# frozen_string_literal: true
require "spec_helper"

# Data over TLS: sizes from 1 byte to 4 MiB in both directions, intact and in
# order; close_connection_after_writing; STARTTLS-style upgrades; and interop
# both ways with Ruby's OpenSSL (an SSLSocket client against an EM server, an
# EM client against a Ruby TLS server on a thread).
RSpec.describe "TLS data and interop" do
  describe "EM client and EM server" do
    TlsHelpers::SIZES.each do |label, size|
      it "#{label} each way at once, intact and in order" do
        up = tls_bytes(size, seed: 1)
        down = tls_bytes(size, seed: 2)
        srv, cl, = tls_pair(
          server: { on_handshake: ->(s) { s.send_data(down) } },
          client: { send: up, on_data: nil },
          limit: 15,
          until_cond: ->(s, c) { s && s.received.bytesize >= size && c.received.bytesize >= size }
        )
        expect(srv.received.bytesize).to eq(size)
        expect(cl.received.bytesize).to eq(size)
        expect(sha(srv.received)).to eq(sha(up))
        expect(sha(cl.received)).to eq(sha(down))
      end
    end

    it "many small writes arrive as one ordered stream" do
      parts = Array.new(2000) { |i| "#{i}," }
      expected = parts.join
      srv, = tls_pair(
        client: { on_handshake: ->(c) { parts.each { |p| c.send_data(p) } } },
        limit: 10,
        until_cond: ->(s, _) { s && s.received.bytesize >= expected.bytesize }
      )
      expect(srv.received).to eq(expected)
    end

    it "received data is a binary (ASCII-8BIT) String" do
      srv, = tls_pair(client: { send: "h\u00e9llo" }, until_cond: ->(s, _) { s && s.received.bytesize >= 6 })
      expect(srv.received).to eq("h\u00e9llo".b)
      expect(srv.received.encoding).to eq(Encoding::BINARY)
    end

    it "close_connection_after_writing right after send_data flushes 4 MiB through TLS, then unbinds both ends" do
      data = tls_bytes(4 << 20, seed: 3)
      srv, cl, = tls_pair(server: { on_handshake: ->(s) { s.send_data(data); s.close_connection_after_writing } },
                          client: { on_data: nil }, limit: 15)
      expect(cl.received.bytesize).to eq(data.bytesize)
      expect(sha(cl.received)).to eq(sha(data))
      expect([srv.reason, cl.reason]).to eq([nil, nil])
    end

    it "close_connection_after_writing from the client flushes 4 MiB to the server" do
      data = tls_bytes(4 << 20, seed: 4)
      srv, = tls_pair(client: { on_handshake: ->(c) { c.send_data(data); c.close_connection_after_writing } }, limit: 15)
      expect(srv.received.bytesize).to eq(data.bytesize)
      expect(sha(srv.received)).to eq(sha(data))
    end

    it "close_connection_after_writing called before the handshake completes still delivers the data",
       em_rust_only: "EM closes at once, dropping what its TLS layer still holds" do
      data = tls_bytes(64 << 10, seed: 5)
      _, cl, = tls_pair(server: { send: data, then_close: true }, client: { on_data: nil })
      expect(cl.received.bytesize).to eq(data.bytesize)
    end

    it "STARTTLS: plain text first, then start_tls on both ends, then encrypted data" do
      log = []
      server_handler = Class.new(EM::Connection) do
        define_method(:initialize) { |l| super(); @log = l; @buf = +"" }
        define_method(:receive_data) do |d|
          if @tls
            @log << [:server_tls_data, d]
            send_data("secret reply")
            close_connection_after_writing
          else
            @buf << d
            next unless @buf.end_with?("\r\n")
            @log << [:server_plain, @buf]
            send_data("220 go ahead\r\n")
            start_tls(TlsHelpers::Certs.instance.server_opts)
            @tls = true
          end
        end
        define_method(:ssl_handshake_completed) { @log << [:server_hs, get_cipher_protocol] }
      end
      client_handler = Class.new(EM::Connection) do
        define_method(:initialize) { |l| super(); @log = l }
        define_method(:connection_completed) { send_data("STARTTLS\r\n") }
        define_method(:receive_data) do |d|
          @log << [(@tls ? :client_tls_data : :client_plain), d]
          next if @tls
          start_tls(verify_peer: true)
          @tls = true
          send_data("secret")
        end
        define_method(:ssl_verify_peer) { |_pem| true }
        define_method(:ssl_handshake_completed) { @log << [:client_hs, get_peer_cert == TlsHelpers::Certs.instance.server_cert.to_pem] }
        define_method(:unbind) { EM.stop }
      end
      run_em(12) do
        _, port = start_server_on_free_port(server_handler, log)
        EM.connect(TlsHelpers::HOST, port, client_handler, log)
      end
      expect(log.first(2)).to eq([[:server_plain, "STARTTLS\r\n"], [:client_plain, "220 go ahead\r\n"]])
      expect(log.drop(2)).to contain_exactly([:client_hs, true], [:server_hs, "TLSv1.3"],
                                             [:server_tls_data, "secret"], [:client_tls_data, "secret reply"])
      expect(log.index([:client_hs, true])).to be < log.index([:client_tls_data, "secret reply"])
    end

    it "20 concurrent TLS connections to one server all complete and echo their own data" do
      results = {}
      run_em(15) do
        port, = start_tls_server(echo: true)
        20.times do |i|
          msg = "client #{i} " * 100
          on_data = lambda do |c, _|
            next if c.received.bytesize < msg.bytesize
            results[i] = c.received == msg
            c.close_connection
          end
          tls_connect(port, { send: msg, on_data: on_data })
        end
        stop_when(timeout: 12, what: "20 echoes") { results.size == 20 }
      end
      expect(results.values).to all(be(true))
    end
  end

  describe "Ruby OpenSSL::SSL::SSLSocket client -> EM TLS server" do
    it "verifies the server's chain and hostname against the CA; SNI reaches get_sni_hostname; data of each size echoes intact", timeout: 45 do
      srv_log = []
      accepted = nil
      seen = nil
      run_em(25) do
        port, accepted = start_tls_server(srv_log, echo: true)
        ctx = ruby_client_ctx(verify: true, verify_hostname: true)
        th = ruby_tls_client(port, ctx: ctx, hostname: "localhost", timeout: 20) do |ssl, deadline|
          sizes = TlsHelpers::SIZES.values.map do |size|
            data = tls_bytes(size, seed: size)
            ssl_write_all(ssl, data, deadline)
            sha(ssl_read_exactly(ssl, size, deadline)) == sha(data)
          end
          { sizes: sizes, verify: ssl.verify_result, version: ssl.ssl_version, peer: ssl.peer_cert.subject.to_s }
        end
        stop_when(timeout: 22, what: "the Ruby client") { !th.alive? && accepted.all?(&:unbound?) }
        seen = th
      end
      expect(seen.value).to eq(sizes: [true, true, true], verify: OpenSSL::X509::V_OK, version: "TLSv1.3", peer: "/CN=localhost")
      srv = accepted.first
      expect(srv.at_handshake).to include(sni: "localhost", protocol: "TLSv1.3", name: "TLS_AES_256_GCM_SHA384", bits: 256, peer_cert: nil)
      expect(srv.events).to eq(%i[post_init start_tls handshake data unbind])
    end

    it "a Ruby client certificate reaches the server's ssl_verify_peer and get_peer_cert" do
      accepted = nil
      run_em(12) do
        port, accepted = start_tls_server(tls: certs.server_opts.merge(verify_peer: true, fail_if_no_peer_cert: true), echo: true)
        th = ruby_tls_client(port, ctx: ruby_client_ctx(cert: certs.client_cert, key: certs.client_key)) do |ssl, deadline|
          ssl_write_all(ssl, "x", deadline)
          ssl_read_exactly(ssl, 1, deadline)
        end
        stop_when(timeout: 10, what: "the Ruby client") { !th.alive? && accepted.all?(&:unbound?) }
      end
      srv = accepted.first
      expect(srv.verified).to eq([certs.client_cert.to_pem] * 3)
      expect(srv.at_handshake[:peer_cert]).to eq(certs.client_cert.to_pem)
    end

    it "the server's close_connection_after_writing reaches the Ruby client as all the data, then EOF" do
      data = tls_bytes(4 << 20, seed: 9)
      got = nil
      run_em(15) do
        port, = start_tls_server(on_handshake: ->(s) { s.send_data(data); s.close_connection_after_writing })
        th = ruby_tls_client(port, timeout: 12) { |ssl, deadline| ssl_read_to_eof(ssl, deadline) }
        stop_when(timeout: 12, what: "the Ruby client") { !th.alive? }
        got = th
      end
      expect(got.value.bytesize).to eq(data.bytesize)
      expect(sha(got.value)).to eq(sha(data))
    end
  end

  describe "EM TLS client -> Ruby TLS server (SSLSocket#accept on a thread)" do
    it "sends SNI, sees the chain in ssl_verify_peer, and exchanges data of each size intact", timeout: 45 do
      sni = nil
      ctx = ruby_server_ctx(servername_cb: ->((sock, name)) { sni = name; sock.context })
      cl = nil
      port, th = ruby_tls_server(ctx: ctx, timeout: 20) do |ssl, deadline|
        TlsHelpers::SIZES.values.map do |size|
          data = ssl_read_exactly(ssl, size, deadline)
          ssl_write_all(ssl, data.reverse, deadline)
          sha(data)
        end
      end
      total = TlsHelpers::SIZES.values.sum
      run_em(25) do
        cl = tls_connect(port, { tls: { sni_hostname: "localhost", verify_peer: true },
                                 on_handshake: ->(c) { TlsHelpers::SIZES.each_value { |size| c.send_data(tls_bytes(size, seed: size)) } },
                                 on_data: ->(c, _) { c.close_connection if c.received.bytesize >= total } })
        stop_when(timeout: 22, what: "the exchange") { cl.unbound? && !th.alive? }
      end
      expect(th.value).to eq(TlsHelpers::SIZES.values.map { |size| sha(tls_bytes(size, seed: size)) })
      expect(sni).to eq("localhost")
      expect(cl.verified_subjects).to eq(["/CN=em_rust test CA", "/CN=em_rust test CA", "/CN=localhost"])
      expect(cl.at_handshake).to include(peer_cert: certs.server_cert.to_pem, protocol: "TLSv1.3", sni: "localhost")
      offset = 0
      TlsHelpers::SIZES.values.each do |size|
        part = cl.received.byteslice(offset, size)
        expect(sha(part)).to eq(sha(tls_bytes(size, seed: size).reverse))
        offset += size
      end
    end

    it "presents a client certificate that the Ruby server verifies against the CA" do
      ctx = ruby_server_ctx(verify_mode: OpenSSL::SSL::VERIFY_PEER | OpenSSL::SSL::VERIFY_FAIL_IF_NO_PEER_CERT,
                            cert_store: certs.trusting_store)
      cl = nil
      port, th = ruby_tls_server(ctx: ctx) do |ssl, deadline|
        ssl_write_all(ssl, "ok", deadline)
        [ssl.peer_cert.subject.to_s, ssl.verify_result]
      end
      run_em(12) do
        cl = tls_connect(port, { tls: certs.client_opts, on_data: ->(c, _) { c.close_connection if c.received.bytesize >= 2 } })
        stop_when(timeout: 10, what: "the exchange") { cl.unbound? && !th.alive? }
      end
      expect(th.value).to eq(["/CN=em_rust test client", OpenSSL::X509::V_OK])
      expect(cl.received).to eq("ok")
    end

    it "a Ruby server limited to TLS 1.2 with a DHE cipher: the EM client reports it" do
      ctx = ruby_server_ctx(max_version: OpenSSL::SSL::TLS1_2_VERSION, ciphers: "DHE-RSA-AES256-GCM-SHA384",
                            tmp_dh: OpenSSL::PKey::DH.new(File.read(certs.dhparam_file)))
      cl = nil
      port, th = ruby_tls_server(ctx: ctx) { |ssl, deadline| ssl_write_all(ssl, "ok", deadline) }
      run_em(12) do
        cl = tls_connect(port, { on_data: ->(c, _) { c.close_connection if c.received.bytesize >= 2 } })
        stop_when(timeout: 10, what: "the exchange") { cl.unbound? && !th.alive? }
      end
      th.value
      expect(cl.at_handshake.values_at(:protocol, :name, :bits)).to eq(["TLSv1.2", "DHE-RSA-AES256-GCM-SHA384", 256])
    end

    it "the Ruby server closing after writing: the EM client gets all of it, then unbind" do
      data = tls_bytes(1 << 20, seed: 12)
      cl = nil
      port, th = ruby_tls_server { |ssl, deadline| ssl_write_all(ssl, data, deadline) }
      run_em(12) do
        cl = tls_connect(port)
        stop_when(timeout: 10, what: "the client's unbind") { cl.unbound? && !th.alive? }
      end
      th.value
      expect(cl.received.bytesize).to eq(data.bytesize)
      expect(sha(cl.received)).to eq(sha(data))
    end
  end
end
