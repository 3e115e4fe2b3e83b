# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::LineAndTextProtocol do
  # An instance outside the reactor (no signature), recording its callbacks.
  def recorder(&hook)
    klass = Class.new(described_class) do
      attr_reader :events

      define_method(:receive_line) do |line|
        (@events ||= []) << [:line, line]
        hook&.call(self, line)
      end

      def receive_binary_data(data) = (@events ||= []) << [:binary, data]
      def receive_error(why) = (@events ||= []) << [:error, why]
      def close_connection(*) = (@events ||= []) << [:closed]
    end
    obj = klass.allocate
    obj.send(:initialize)
    obj
  end

  it "delivers lines without \"\\n\" or \"\\r\\n\", across reads" do
    c = recorder
    c.receive_data("a\r\nb")
    c.receive_data("c\n\n")
    expect(c.events).to eq([[:line, "a"], [:line, "bc"], [:line, ""]])
  end

  it "sends a sized binary block (including held data) to receive_binary_data, then lines again" do
    c = recorder { |conn, line| conn.set_binary_mode(6) if line == "bin" }
    c.receive_data("bin\n")
    c.receive_data("12")
    c.receive_data(+"3456next\n") # EM slices the data it is given
    expect(c.events).to eq([[:line, "bin"], [:binary, "123456"], [:line, "next"]])
  end

  it "in unsized binary mode passes all later data through" do
    c = recorder { |conn, line| conn.set_binary_mode if line == "raw" }
    c.receive_data("raw\n")
    c.receive_data("x\ny")
    # (EventMachine also delivers an empty block when the switch happens.)
    expect(c.events - [[:binary, ""]]).to eq([[:line, "raw"], [:binary, "x\ny"]])
  end

  it "set_binary_mode(0) delivers an empty block and stays in line mode" do
    c = recorder { |conn, line| conn.set_binary_mode(0) if line == "zero" }
    c.receive_data("zero\n")
    c.receive_data("after\n")
    expect(c.events).to eq([[:line, "zero"], [:binary, ""], [:line, "after"]])
  end

  it "takes the rest of the same read as binary when switched mid-read" do
    only_em_rust_code(described_class, "EM 1.3 keeps delivering the lines already split from that read")
    c = recorder { |conn, line| conn.set_binary_mode(4) if line == "bin" }
    c.receive_data("bin\nab\ncd\nrest\n")
    expect(c.events).to eq([[:line, "bin"], [:binary, "ab\nc"], [:line, "d"], [:line, "rest"]])
  end

  it "refuses set_binary_mode outside line mode and oversized blocks" do
    c = recorder
    expect { c.set_binary_mode(described_class::MaxBinaryLength + 1) }.to raise_error(RuntimeError, "Overlength")
    c.set_binary_mode
    expect { c.set_binary_mode(3) }.to raise_error(RuntimeError, "invalid operation")
  end

  it "delivers a block cut short when unbound" do
    c = recorder
    c.set_binary_mode(10)
    c.receive_data("abc")
    c.unbind
    expect(c.events).to eq([[:binary, "abc"]])
  end

  it "turns an exception in receive_line into receive_error('overlength line') and a close" do
    c = recorder { |_conn, line| raise "boom" if line == "bad" }
    c.receive_data("ok\nbad\nnever\n")
    expect(c.events).to eq([[:line, "ok"], [:line, "bad"], [:error, "overlength line"], [:closed]])
  end

  it "works over a loopback connection" do
    got = []
    server = Class.new(described_class) do
      define_method(:receive_line) do |line|
        got << line
        next unless line == "b"

        set_binary_mode(3)
        send_data("go\n")
      end
      define_method(:receive_binary_data) { |d| got << [:bin, d] }
      define_method(:unbind) { super(); EM.stop }
    end
    run_em do
      port = em_server(server)
      EM.connect("127.0.0.1", port, Module.new {
        def post_init = send_data("one\nb\n")

        def receive_data(_go)
          send_data("xyztwo\r\n")
          close_connection_after_writing
        end
      })
    end
    expect(got).to eq(["one", "b", [:bin, "xyz"], "two"])
  end
end
