# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::Socks4 do
  after { @peer&.close }

  # A SOCKS4 proxy that records the CONNECT request, answers +code+ and, if
  # granted, sends "early" at once and then echoes (as the destination).
  def proxy(code)
    requests = []
    @peer = ProtocolHelpers::FakePeer.new do |sock, _|
      head = sock.read(8)
      user = +""
      while (c = sock.read(1)) != "\0"
        user << c
      end
      requests << head.unpack("CCnC4") + [user]
      sock.write([0, code, 0, 0].pack("CCnN") + (code == 90 ? "early" : ""))
      loop { sock.write(sock.readpartial(100)) } if code == 90
    end
    [@peer.port, requests]
  end

  let(:client_class) do
    Class.new(described_class) do
      attr_reader :log

      def post_init
        (@log ||= []) << :post_init
        send_data("ping")
      end

      def receive_data(data)
        @log << data
        EM.stop if @log.join.include?("ping")
      end

      def unbind
        (@log ||= []) << [:unbind, @socks_error_code]
        EM.stop
      end
    end
  end

  it "asks the proxy for the destination, then runs post_init and receive_data as usual" do
    port, requests = proxy(90)
    conn = nil
    run_em { conn = EM.connect("127.0.0.1", port, client_class, "10.1.2.3", 8080) }
    expect(requests).to eq([[4, 1, 8080, 10, 1, 2, 3, ""]])
    expect(conn.log.first).to eq(:post_init)
    expect(conn.log.grep(String).join).to eq("earlyping")
  end

  it "resolves a host name to its IPv4 address" do
    port, requests = proxy(90)
    run_em { EM.connect("127.0.0.1", port, client_class, "localhost", 80) }
    expect(requests.first[3..6]).to eq([127, 0, 0, 1])
  end

  it "closes the connection when the proxy refuses, keeping its reply code" do
    port, = proxy(91)
    conn = nil
    run_em { conn = EM.connect("127.0.0.1", port, client_class, "10.0.0.1", 25) }
    expect(conn.log).to eq([[:unbind, 91]])
  end
end
