# frozen_string_literal: true
require "spec_helper"
require "digest"

# em-websocket (Debian ruby-em-websocket) servers, unchanged: EM.start_server
# with a Connection subclass and options, send_data, close_connection(_after_writing),
# EM::Timer for the close handshake. Clients: faye-websocket in the same
# reactor, and a hand-written RFC 6455 client on a blocking socket.
RSpec.describe "em-websocket", :integration do
  before(:context) { use_gems(:em_websocket, :faye) }

  # Starts an em-websocket server on a free port inside the reactor; yields each
  # connection to the block; returns the ws:// URL.
  def ws_server(**options, &blk)
    sig = EM::WebSocket.run({ host: IntegrationHelpers::HOST, port: 0 }.merge(options), &blk)
    port = Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]
    "ws://#{IntegrationHelpers::HOST}:#{port}"
  end

  def echo_server(log = [])
    ws_server do |ws|
      ws.onopen { |hs| log << [:open, hs.path, hs.query_string, hs.headers["X-Token"]] }
      ws.onmessage { |msg| ws.send(msg) }
      ws.onbinary { |msg| ws.send_binary(msg) }
      ws.onclose { |ev| log << [:close, ev[:code], ev[:was_clean]] }
      ws.onerror { |e| log << [:error, e.class, e.message] }
    end
  end

  it "echoes text and binary messages, in order, to a faye-websocket client; closes cleanly" do
    log = []
    got = []
    closed = nil
    run_em(8, what: "websocket echo") do
      url = echo_server(log)
      client = Faye::WebSocket::Client.new("#{url}/chat?room=1", nil, headers: { "X-Token" => "t0k" })
      client.on(:open) do
        10.times { |i| client.send("message #{i}") }
        client.send([0, 1, 2, 253, 254, 255])
      end
      client.on(:message) do |ev|
        got << ev.data
        client.close if got.size == 11
      end
      client.on(:close) do |ev|
        closed = [ev.code, ev.reason]
        EM.add_timer(0.05) { EM.stop } # let the server see the close
      end
    end
    expect(got).to eq(Array.new(10) { |i| "message #{i}" } + [[0, 1, 2, 253, 254, 255]])
    expect(closed).to eq([1000, ""])
    expect(log.first).to eq([:open, "/chat", "room=1", "t0k"])
    expect(log.last).to eq([:close, 1000, true])
    expect(log.grep(Array).map(&:first)).not_to include(:error)
  end

  it "echoes a 512 KiB message intact (several reads and writes each way)" do
    payload = Random.new(3).bytes(256 << 10).unpack1("H*") # 512 KiB of hex text; faye masks in Ruby
    got = nil
    run_em(8, what: "a 512 KiB echo") do
      url = echo_server
      client = Faye::WebSocket::Client.new(url)
      client.on(:open) { client.send(payload) }
      client.on(:message) { |ev| got = ev.data; EM.stop }
      client.on(:close) { |ev| got ||= [:closed, ev.code]; EM.stop }
    end
    expect(got.bytesize).to eq(payload.bytesize)
    expect(Digest::SHA256.hexdigest(got)).to eq(Digest::SHA256.hexdigest(payload))
  end

  it "broadcasts through an EM::Channel to 20 clients" do
    channel = EM::Channel.new
    received = Hash.new { |h, k| h[k] = [] }
    run_em(8, what: "broadcast to 20 clients") do
      joined = 0
      url = ws_server do |ws|
        ws.onopen do
          sid = channel.subscribe { |m| ws.send(m.dup) } # em-websocket re-encodes the String it sends
          ws.onclose { channel.unsubscribe(sid) }
          joined += 1
          channel.push("hello #{joined}") if joined == 20
        end
      end
      clients = Array.new(20) do |i|
        c = Faye::WebSocket::Client.new(url)
        c.on(:message) do |ev|
          received[i] << ev.data
          if ev.data == "hello 20"
            channel.push("bye") if i.zero?
          elsif received.size == 20 && received.values.all? { |v| v.last == "bye" }
            EM.stop
          end
        end
        c
      end
      clients.size
    end
    expect(received.keys.sort).to eq((0...20).to_a)
    expect(received.values.uniq).to eq([["hello 20", "bye"]])
  end

  it "speaks RFC 6455 to a hand-written client: handshake, masked frames, close handshake" do
    log = []
    result = reactor_with_client do
      url = echo_server(log)
      port = URI(url).port
      lambda do
        sock = TCPSocket.new(IntegrationHelpers::HOST, port)
        begin
          key, head = ws_handshake(sock, "/raw?x=1", { "X-Token" => "raw" })
          accept = head[/^Sec-WebSocket-Accept: (.*)\r$/i, 1]
          sock.write(client_frame(0x1, "hello server"))
          sock.write(client_frame(0x1, "x" * 70_000))
          echo1 = read_frame(sock)
          echo2 = read_frame(sock)
          sock.write(client_frame(0x8, [1000].pack("n") + "done"))
          close = read_frame(sock)
          eof = wait_for_eof(sock, timeout: 5)
          [head.lines.first.strip, accept, key, echo1, echo2[0], echo2[1].bytesize, close[0], close[1].byteslice(0, 2).unpack1("n"), eof.is_a?(Float)]
        ensure
          sock.close
        end
      end
    end
    status, accept, key, echo1, op2, len2, close_op, close_code, eof = result
    expect(status).to eq("HTTP/1.1 101 Switching Protocols")
    expect(accept).to eq(ws_accept_for(key))
    expect(echo1).to eq([0x1, "hello server"])
    expect([op2, len2]).to eq([0x1, 70_000])
    expect([close_op, close_code]).to eq([0x8, 1000])
    expect(eof).to be(true)
    expect(log.first).to eq([:open, "/raw", "x=1", "raw"])
  end

  it "rejects a request that is not a websocket handshake: onerror, then the connection is dropped" do
    errors = []
    closed = reactor_with_client do
      url = ws_server do |ws|
        ws.onerror { |e| errors << e.class.name }
      end
      port = URI(url).port
      lambda do
        sock = TCPSocket.new(IntegrationHelpers::HOST, port)
        begin
          sock.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
          wait_for_eof(sock, timeout: 5)
        ensure
          sock.close
        end
      end
    end
    expect(closed).to be_a(Float)
    expect(errors).to eq(["EventMachine::WebSocket::HandshakeError"])
  end
end
