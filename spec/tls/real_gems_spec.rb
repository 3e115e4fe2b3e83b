# frozen_string_literal: true
require "spec_helper"
require "net/http"

# Real gems over TLS, unchanged (Debian's ruby-em-http-request 1.1.7 and thin
# 1.8.1): em-http-request's https client (it calls start_tls with its :tls
# options after forcing :sni_hostname to the URI's host, and checks the chain
# and the host name itself in ssl_verify_peer / ssl_handshake_completed), and
# thin's --ssl server (start_tls with key and cert files and verify_peer, so
# that rack.peer_cert is filled in) answering Net::HTTP.
RSpec.describe "real gems over TLS", :integration do
  def start_https_responder(opts = certs.server_opts)
    requests = []
    sig = EM.start_server(IntegrationHelpers::HOST, 0, TlsHelpers::HttpsResponder, opts, requests)
    [Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0], requests]
  end

  # Does "localhost" resolve to 127.0.0.1 first here (as EM.connect would use it)?
  def localhost_is_ipv4_loopback?
    Addrinfo.getaddrinfo("localhost", 80, nil, :STREAM).first&.ip_address == "127.0.0.1"
  rescue SocketError
    false
  end

  describe "em-http-request https client" do
    before(:context) { use_gems(:em_http) }

    # GETs `url` (PORT replaced by the responder's) with `tls` options from
    # an HttpsResponder started with `server_opts`; returns
    # [status, body, requests seen] or [:error, message, requests seen].
    def https_get(url, tls, server_opts: certs.server_opts)
      got = nil
      run_em(8, what: "em-http response") do
        port, requests = start_https_responder(server_opts)
        http = EM::HttpRequest.new(url.sub("PORT", port.to_s), tls: tls, connect_timeout: 5, inactivity_timeout: 5).get
        http.callback { got = [http.response_header.status, http.response, requests.dup]; EM.stop }
        http.errback { got = [:error, http.error, requests.dup]; EM.stop }
      end
      got
    end

    it "GETs https://127.0.0.1 from an EM TLS server, verifying the chain against the CA (:verify_peer, :cert_chain_file); SNI is the URI host" do
      status, body, requests = https_get("https://127.0.0.1:PORT/secure?x=1",
                                         { verify_peer: true, cert_chain_file: certs.ca_file, sni_hostname: "localhost" })
      expect(status).to eq(200)
      expect(body).to eq("GET /secure?x=1 sni=127.0.0.1")
      expect(requests).to eq(["GET /secure?x=1 HTTP/1.1"])
    end

    it "GETs https://localhost: SNI \"localhost\" reaches the server's get_sni_hostname" do
      skip("localhost does not resolve to 127.0.0.1 first on this box") unless localhost_is_ipv4_loopback?
      status, body, = https_get("https://localhost:PORT/", { verify_peer: true, cert_chain_file: certs.ca_file })
      expect([status, body]).to eq([200, "GET / sni=localhost"])
    end

    it "verify_peer: false skips the checks and still gets the page" do
      self_signed = { private_key_file: certs.server_key_file, cert_chain_file: certs.self_signed_cert_file }
      expect(https_get("https://127.0.0.1:PORT/plain", { verify_peer: false }, server_opts: self_signed).first(2))
        .to eq([200, "GET /plain sni=127.0.0.1"])
    end

    it "a self-signed server with verify_peer: its ssl_verify_peer raises, EM.run re-raises it, and no request is sent" do
      @server_opts = { private_key_file: certs.server_key_file, cert_chain_file: certs.self_signed_cert_file }
      requests = nil
      callback = false
      expect do
        run_em(8, what: "em-http failure") do
          port, requests = start_https_responder(@server_opts)
          http = EM::HttpRequest.new("https://127.0.0.1:#{port}/", tls: { verify_peer: true, cert_chain_file: certs.ca_file }).get
          http.callback { callback = true; EM.stop }
          http.errback { EM.stop }
        end
      end.to raise_error(OpenSSL::SSL::SSLError, 'unable to verify the server certificate for "127.0.0.1"')
      expect(callback).to be(false)
      expect(requests).to eq([])
    end

    it "a certificate for another host with verify_peer: ssl_handshake_completed raises \"does not match\", no request is sent" do
      @server_opts = { private_key_file: certs.server_key_file, cert_chain_file: certs.wrong_host_cert_file }
      requests = nil
      expect do
        run_em(8, what: "em-http failure") do
          port, requests = start_https_responder(@server_opts)
          http = EM::HttpRequest.new("https://127.0.0.1:#{port}/", tls: { verify_peer: true, cert_chain_file: certs.ca_file }).get
          http.callback { EM.stop }
          http.errback { EM.stop }
        end
      end.to raise_error(OpenSSL::SSL::SSLError, 'host "127.0.0.1" does not match the server certificate')
      expect(requests).to eq([])
    end
  end

  describe "thin with SSL" do
    before(:context) { use_gems(:thin) }

    def app
      lambda do |env|
        body = env["rack.input"].read
        peer = env["rack.peer_cert"] ? OpenSSL::X509::Certificate.new(env["rack.peer_cert"]).subject.to_s : "none"
        rack_text("#{env['rack.url_scheme']} #{env['REQUEST_METHOD']} #{env['PATH_INFO']} #{body.bytesize} #{sha(body)} peer=#{peer}")
      end
    end

    # Thin::Server with the options `thin --ssl` builds (Thin::Controllers::Controller).
    def start_ssl_thin(verify_peer: true)
      Thin::Logging.silent = true
      server = Thin::Server.new(IntegrationHelpers::HOST, 0, app, signals: false)
      server.ssl = true
      server.ssl_options = { private_key_file: certs.server_key_file, cert_chain_file: certs.chain_file,
                             verify_peer: verify_peer, ssl_version: nil, cipher_list: nil }
      server.start
      server
    end

    def https(port, verify: OpenSSL::SSL::VERIFY_NONE, cert: nil, key: nil)
      http = net_http(port)
      http.use_ssl = true
      http.verify_mode = verify
      http.cert_store = certs.trusting_store if verify != OpenSSL::SSL::VERIFY_NONE
      http.cert = cert if cert
      http.key = key if key
      http
    end

    it "serves Net::HTTP (verify_mode NONE) over TLS: GET, a 1 MiB POST, keep-alive" do
      upload = tls_bytes(1 << 20, seed: 21)
      results = reactor_with_client(timeout: bound(15)) do
        port = start_ssl_thin.port
        lambda do
          https(port).start do |h|
            [h.get("/a").body, h.post("/up", upload, "Content-Type" => "application/octet-stream").body, h.get("/b").body]
          end
        end
      end
      expect(results).to eq(["https GET /a 0 #{sha('')} peer=none",
                             "https POST /up #{upload.bytesize} #{sha(upload)} peer=none",
                             "https GET /b 0 #{sha('')} peer=none"])
    end

    it "Net::HTTP verifying thin's certificate against the CA, presenting a client certificate: rack.peer_cert has it" do
      body = reactor_with_client(timeout: bound(8)) do
        port = start_ssl_thin.port
        -> { https(port, verify: OpenSSL::SSL::VERIFY_PEER, cert: certs.client_cert, key: certs.client_key).start { |h| h.get("/who").body } }
      end
      expect(body).to eq("https GET /who 0 #{sha('')} peer=/CN=em_rust test client")
    end

    it "em-http-request https to thin --ssl in the same reactor" do
      use_gems(:em_http)
      got = nil
      run_em(8, what: "em-http response from thin") do
        port = start_ssl_thin(verify_peer: false).port
        http = EM::HttpRequest.new("https://127.0.0.1:#{port}/from-em", tls: { verify_peer: true, cert_chain_file: certs.ca_file }).get
        http.callback { got = [http.response_header.status, http.response]; EM.stop }
        http.errback { got = [:error, http.error]; EM.stop }
      end
      expect(got).to eq([200, "https GET /from-em 0 #{sha('')} peer=none"])
    end

    it "`thin start --ssl --ssl-key-file --ssl-cert-file` as its own process serves Net::HTTP and exits 0 on SIGINT", timeout: 60 do
      thin_bin = ENV["PATH"].split(":").map { |d| File.join(d, "thin") }.find { |f| File.executable?(f) } ||
                 Gem.bin_path("thin", "thin")
      File.write(File.join(tmpdir, "config.ru"), <<~'RUBY')
        $stdout.sync = true # thin logs "Listening on ..." to a pipe here
        impl = defined?(EventMachine::EM_RUST_VERSION) ? "em_rust" : "eventmachine"
        run lambda { |env|
          body = "#{impl} #{env['rack.url_scheme']} #{env['PATH_INFO']}"
          [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
        }
      RUBY
      rubyopt = em_rust? ? "-I#{CoreHelpers::LIB_DIR} -rem_rust" : "-reventmachine"
      child = nil
      port = nil
      3.times do # the port is picked before thin binds it: retry if someone took it
        port = closed_port
        child = CoreHelpers::Child.new(
          [RbConfig.ruby, thin_bin, "-R", File.join(tmpdir, "config.ru"), "-a", IntegrationHelpers::HOST, "-p", port.to_s,
           "--ssl", "--ssl-key-file", certs.server_key_file, "--ssl-cert-file", certs.chain_file, "start"],
          env: child_env.merge("RUBYOPT" => rubyopt)
        )
        m = child.wait_for(/Listening on|no acceptor|in use|Error/i, timeout: bound(15))
        break if m[0] =~ /Listening on/i
        child.kill!
      end
      deadline = now + bound(10)
      begin
        TCPSocket.new(IntegrationHelpers::HOST, port).close
      rescue Errno::ECONNREFUSED
        raise "thin never listened on #{port}:\n#{child.output}" if now > deadline
        sleep 0.02
        retry
      end
      bodies = Array.new(3) { |i| https(port).start { |h| h.get("/r#{i}").body } }
      child.signal(:INT)
      status = child.finish(timeout: bound(10))
      # The app names the implementation that serves it (EM_IMPL's spelling).
      expect(bodies).to eq(Array.new(3) { |i| "#{EM_IMPL} https /r#{i}" })
      expect(status.exitstatus).to eq(0), child.output
    end
  end
end
