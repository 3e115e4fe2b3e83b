# frozen_string_literal: true
require "stringio"

RSpec.describe EventMachine::Protocols::HttpClient do
  around { |ex| quietly { ex.run } }

  let(:requests) { [] }

  # A fake HTTP server that records each request and answers with +reply+
  # (a String, or a callable given the socket).
  def peer(reply)
    @peer = ProtocolHelpers::FakePeer.new do |sock, _|
      requests << read_http_request(sock)
      reply.respond_to?(:call) ? reply.call(sock) : sock.write(reply)
    end
  end

  after { @peer&.close }

  def fetch(args)
    result = nil
    run_em do
      http = described_class.request(args)
      http.callback { |r| result = [:ok, r]; EM.stop }
      http.errback { |r| result = [:failed, r]; EM.stop }
    end
    result
  end

  it "GETs a path and returns status, header lines and content" do
    port = peer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello").port
    status, r = fetch(host: "127.0.0.1", port: port, request: "items", query_string: "a=1")
    expect(status).to eq(:ok)
    expect(r[:status]).to eq(200)
    expect(r[:headers]).to eq(["HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 5"])
    expect(r[:content]).to eq("hello")
    expect(requests).to eq([[["GET /items?a=1 HTTP/1.1", "Host: 127.0.0.1:#{port}", "User-agent: Ruby EventMachine"], ""]])
  end

  it "POSTs content with its type, cookies, custom headers and basic auth" do
    port = peer("HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n").port
    status, r = fetch(host: "127.0.0.1", port: port, verb: "post", request: "/p", content: "x=y&z",
                      contenttype: "application/x-www-form-urlencoded", cookie: "c=1",
                      custom_headers: { "X-One" => "1" }, basic_auth: { username: "u", password: "pw" },
                      host_header: "example.test")
    expect([status, r[:status], r[:content]]).to eq([:ok, 201, ""])
    head, body = requests.first
    expect(head).to eq(["POST /p HTTP/1.1", "Host: example.test:#{port}", "User-agent: Ruby EventMachine",
                        "Content-type: application/x-www-form-urlencoded", "Content-length: 5",
                        "Cookie: c=1", "X-One: 1", "Authorization: Basic dTpwdw=="])
    expect(body).to eq("x=y&z")
  end

  it "accepts :method as the verb" do
    port = peer("HTTP/1.1 204 No Content\r\n\r\n").port
    status, r = fetch(host: "127.0.0.1", port: port, method: :delete)
    expect([status, r[:status]]).to eq([:ok, 204])
    expect(requests.first.first.first).to eq("DELETE / HTTP/1.1")
  end

  it "decodes a chunked body" do
    port = peer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n").port
    _, r = fetch(host: "127.0.0.1", port: port)
    expect(r[:content]).to eq("hello, world")
  end

  it "reads until the server closes when it says Connection: close" do
    port = peer("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it").port
    status, r = fetch(host: "127.0.0.1", port: port)
    expect([status, r[:content]]).to eq([:ok, "all of it"])
  end

  it "fails with status 0 when the port is closed" do
    expect(fetch(host: "127.0.0.1", port: closed_port)).to eq([:failed, { status: 0 }])
  end

  it "fails with status 0 on a reply that is not HTTP" do
    port = peer("SSH-2.0-OpenSSH\r\n\r\n").port
    expect(fetch(host: "127.0.0.1", port: port)).to eq([:failed, { status: 0 }])
  end

  it "fails with status 0 on an unsupported verb, sending nothing" do
    got = +""
    @peer = ProtocolHelpers::FakePeer.new do |sock, _|
      got << sock.readpartial(100) while IO.select([sock], nil, nil, 1)
    rescue EOFError
      nil
    end
    result = nil
    run_em do
      http = described_class.request(host: "127.0.0.1", port: @peer.port, verb: "PATCH")
      http.errback do |r|
        result = r
        EM.add_timer(0.2) { EM.stop }
      end
    end
    expect(result).to eq(status: 0)
    expect(got).to eq("")
  end

  describe "beyond EventMachine" do
    before { only_em_rust_code(described_class, "EM loses header lines split across reads and waits for a HEAD body") }

    it "reassembles a reply that arrives in small pieces" do
      reply = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Long: #{'z' * 50}\r\n\r\nhello world"
      port = peer(lambda do |sock|
        reply.each_char.each_slice(7) do |piece|
          sock.write(piece.join)
          sock.flush
          sleep 0.005
        end
      end).port
      _, r = fetch(host: "127.0.0.1", port: port)
      expect(r[:headers]).to eq(["HTTP/1.1 200 OK", "Content-Length: 11", "X-Long: #{'z' * 50}"])
      expect(r[:content]).to eq("hello world")
    end

    it "does not wait for a body after HEAD" do
      port = peer(->(s) { s.write("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"); sleep 3 }).port
      status, r = fetch(host: "127.0.0.1", port: port, verb: :head)
      expect([status, r[:status], r[:content]]).to eq([:ok, 200, ""])
    end

    it "fails when the connection drops in the middle of the body" do
      port = peer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort").port
      expect(fetch(host: "127.0.0.1", port: port)).to eq([:failed, { status: 0 }])
    end
  end
end
