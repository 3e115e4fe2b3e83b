# frozen_string_literal: true
require "stringio"

RSpec.describe EventMachine::Protocols::HttpClient2 do
  around { |ex| quietly { ex.run } }
  after { @peer&.close }

  let(:requests) { [] }

  # A keep-alive fake server answering successive requests with +replies+;
  # it closes the connection after the last one.
  def peer(*replies)
    @peer = ProtocolHelpers::FakePeer.new do |sock, _|
      replies.each do |reply|
        requests << read_http_request(sock)
        sock.write(reply)
      end
    end
    @peer.port
  end

  it "GETs with a Host header and parses status, version, headers and content" do
    port = peer("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 4\r\n\r\nbody")
    req = nil
    run_em do
      conn = described_class.connect("127.0.0.1", port)
      req = conn.get("/index.html")
      req.callback { EM.stop }
      req.errback { EM.stop }
    end
    expect(req.status).to eq(200)
    expect(req.version).to eq("1.1")
    expect(req.content).to eq("body")
    expect(req.headers).to eq("content-type" => ["text/html"], "set-cookie" => ["a=1", "b=2"], "content-length" => ["4"])
    expect(req.header_lines.first).to eq("HTTP/1.1 200 OK")
    expect(requests).to eq([[["GET /index.html HTTP/1.1", "Host: 127.0.0.1:#{port}"], ""]])
  end

  it "pipelines requests on one connection and matches replies in order (sized, chunked, empty)" do
    port = peer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n4\r\n-two\r\n0\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    done = []
    run_em do
      conn = described_class.connect(host: "127.0.0.1", port: port)
      reqs = %w[/1 /2 /3].map { |path| conn.get(uri: path) }
      reqs.each_with_index do |r, i|
        r.callback do
          done << [i, r.status, r.content]
          EM.stop if done.size == 3
        end
        r.errback { EM.stop }
      end
    end
    expect(done).to eq([[0, 200, "one"], [1, 200, "two-two"], [2, 404, ""]])
    expect(requests.map { |head, _| head.first }).to eq(["GET /1 HTTP/1.1", "GET /2 HTTP/1.1", "GET /3 HTTP/1.1"])
  end

  it "POSTs (head only) with the Authorization given" do
    port = peer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    run_em do
      conn = described_class.connect("127.0.0.1", port)
      conn.post(uri: "/form", authorization: "Basic eDp5").callback { EM.stop }
    end
    expect(requests).to eq([[["POST /form HTTP/1.1", "Host: 127.0.0.1:#{port}", "Authorization: Basic eDp5"], ""]])
  end

  it "fails requests still waiting when the connection closes, and later ones at once" do
    port = peer # accepts, then closes without answering
    outcome = []
    run_em do
      conn = described_class.connect("127.0.0.1", port)
      r1 = conn.get("/a")
      r1.errback do
        outcome << :first_failed
        late = conn.get("/b")
        late.errback { outcome << :late_failed }
        EM.stop
      end
    end
    expect(outcome).to eq(%i[first_failed late_failed])
  end

  it "fails a reply with neither Content-Length nor chunking (internal_error :unsupported_clen)" do
    port = peer("HTTP/1.0 200 OK\r\nX: y\r\n\r\nunframed")
    req = nil
    run_em do
      req = described_class.connect("127.0.0.1", port).get("/")
      req.errback { EM.stop }
      req.callback { EM.stop }
    end
    expect(req.internal_error).to eq(:unsupported_clen)
  end

  it "fails a reply that is not HTTP (internal_error :bad_request)" do
    port = peer("SPAM 200 OK\r\n\r\n")
    req = nil
    run_em do
      req = described_class.connect("127.0.0.1", port).get("/")
      req.errback { EM.stop }
    end
    # EventMachine goes on to overwrite it with :unsupported_clen.
    expected = real_em_code?(described_class) ? :unsupported_clen : :bad_request
    expect(req.internal_error).to eq(expected)
  end

  it "fails a body cut short by the server closing" do
    only_em_rust_code(described_class, "EM succeeds with the truncated body")
    port = peer("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nnot fifty")
    outcome = nil
    run_em do
      req = described_class.connect("127.0.0.1", port).get("/")
      req.callback { outcome = :ok; EM.stop }
      req.errback { outcome = :failed; EM.stop }
    end
    expect(outcome).to eq(:failed)
  end

  it "POSTs a body given as :content" do
    only_em_rust_code(described_class, "EM's post sends no body")
    port = peer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    run_em do
      conn = described_class.connect("127.0.0.1", port)
      conn.post(uri: "/up", content: "k=v", contenttype: "text/plain").callback { EM.stop }
    end
    expect(requests).to eq([[["POST /up HTTP/1.1", "Host: 127.0.0.1:#{port}", "Content-type: text/plain", "Content-length: 3"], "k=v"]])
  end

  it "set_default_host_header leaves out the default port" do
    conn = described_class.allocate
    expect(conn.set_default_host_header("h", 80, false)).to eq("h")
    expect(conn.set_default_host_header("h", 443, true)).to eq("h")
    expect(conn.set_default_host_header("h", 8080, false)).to eq("h:8080")
    expect(conn.set_default_host_header("h", 80, true)).to eq("h:80")
  end
end
