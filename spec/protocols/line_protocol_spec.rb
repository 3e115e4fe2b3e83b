# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::LineProtocol do
  let(:conn) do
    Class.new do
      include EM::P::LineProtocol
      attr_reader :lines

      def receive_line(line) = (@lines ||= []) << line
    end.new
  end

  it "delivers each line once, without its line end, joining pieces" do
    only_em_rust_code(described_class, "EM 1.3 redelivers earlier lines on every read")
    conn.receive_data("a\nb\r\n")
    conn.receive_data("c")
    conn.receive_data("d\n")
    expect(conn.lines).to eq(%w[a b cd])
  end

  it "holds an unterminated line" do
    conn.receive_data("abc")
    expect(conn.lines).to be_nil
  end

  it "has a receive_line stub" do
    bare = Class.new { include EM::P::LineProtocol }.new
    expect { bare.receive_data("x\n") }.not_to raise_error
  end

  it "frames lines over a loopback connection" do
    got = []
    server = Class.new(EM::Connection) do
      include EM::P::LineProtocol
      define_method(:receive_line) { |line| got << line; EM.stop if line == "end" }
    end
    run_em do
      port = em_server(server)
      EM.connect("127.0.0.1", port, Module.new { def post_init = send_data("x y\r\nend\n") })
    end
    expect(got).to eq(["x y", "end"])
  end
end
