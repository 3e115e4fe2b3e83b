# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::Stomp do
  after { @peer&.close }

  it "writes frames with content-length and a default content-type" do
    sent = []
    conn = Class.new do
      include EM::P::Stomp
      define_method(:send_data) { |d| sent << d }
    end.new
    conn.connect(login: "guest", passcode: "pw")
    conn.subscribe("/queue/a")
    conn.subscribe("/queue/b", true)
    conn.send("/queue/a", "héllo", "content-type" => "text/x")
    conn.ack("m-1")
    expect(sent.map(&:b)).to eq([
      "CONNECT\nlogin:guest\npasscode:pw\ncontent-length: 0\ncontent-type: text/plain; charset=UTF-8\n\n\0",
      "SUBSCRIBE\ndestination:/queue/a\nack:auto\ncontent-length: 0\ncontent-type: text/plain; charset=UTF-8\n\n\0",
      "SUBSCRIBE\ndestination:/queue/b\nack:client\ncontent-length: 0\ncontent-type: text/plain; charset=UTF-8\n\n\0",
      "SEND\ncontent-type:text/x\ndestination:/queue/a\ncontent-length: 6\n\nh\xC3\xA9llo\0".b,
      "ACK\nmessage-id:m-1\ncontent-length: 0\ncontent-type: text/plain; charset=UTF-8\n\n\0"
    ].map(&:b))
  end

  it "talks to a broker: CONNECTED, then MESSAGE frames with and without content-length" do
    frames = []
    received_by_peer = +""
    body = "bin\0ary\nbody".b
    @peer = ProtocolHelpers::FakePeer.new do |sock, _|
      received_by_peer << sock.readpartial(4096) until received_by_peer.include?("\0")
      reply = "CONNECTED\nsession:s1\n\n\0\n" \
              "MESSAGE\ndestination:/queue/a\nmessage-id: m1 \ncontent-length:#{body.bytesize}\n\n".b + body + "\0\n" \
              "MESSAGE\r\ndestination:/queue/a\r\nempty:\r\n\r\nplain text\0".b
      reply.each_char.each_slice(5) do |piece|
        sock.write(piece.join)
        sock.flush
      end
      sleep 0.5
    end
    client = Module.new do
      include EM::P::Stomp
      define_method(:connection_completed) { connect(login: "u") }
      define_method(:receive_msg) do |msg|
        frames << [msg.command, msg.headers.dup, msg.body]
        EM.stop if frames.size == 3
      end
    end
    run_em { EM.connect("127.0.0.1", @peer.port, client) }
    expect(received_by_peer).to start_with("CONNECT\nlogin:u\n")
    expect(frames).to eq([
      ["CONNECTED", { "session" => "s1" }, ""],
      ["MESSAGE", { "destination" => "/queue/a", "message-id" => "m1", "content-length" => body.bytesize.to_s }, body],
      ["MESSAGE", { "destination" => "/queue/a" }, "plain text"]
    ])
  end

  describe EventMachine::Protocols::Stomp::Message do
    it "collects command, headers and an unsized body, line by line" do
      msg = described_class.new
      actions = []
      ["", "  ", "ERROR", "message:bad thing", "x: y:z ", "no colon", "", "details"].each do |line|
        msg.consume_line(line) { |a| actions << a }
      end
      expect(msg.command).to eq("ERROR")
      expect(msg.header).to eq("message" => "bad thing", "x" => "y:z")
      expect(msg.body).to eq("details")
      expect(actions).to eq([[:unsized_text], [:dispatch]])
    end

    it "asks for content-length + 1 bytes (the NUL) when the length is given" do
      msg = described_class.new
      actions = []
      ["MESSAGE", "content-length: 4", ""].each { |l| msg.consume_line(l) { |a| actions << a } }
      expect(actions).to eq([[:sized_text, 5]])
    end
  end
end
