# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::HeaderAndContentProtocol do
  let(:events) { [] }
  let(:server_class) do
    ev = events
    Class.new(described_class) do
      define_method(:receive_first_header_line) { |line| ev << [:first, line] }
      define_method(:receive_headers) { |headers| ev << [:headers, headers.dup] }
      define_method(:receive_request) do |headers, content|
        ev << [:request, headers, content]
        send_data("got #{content.bytesize}\n")
      end
      define_method(:unbind) { super(); EM.stop }
    end
  end

  def exchange(text)
    run_em do
      port = em_server(server_class)
      EM.connect("127.0.0.1", port, Module.new {
        define_method(:post_init) do
          send_data(text)
          close_connection_after_writing
        end
      })
    end
  end

  it "frames header blocks, with and without Content-length bodies, skipping blank lines between" do
    exchange("\r\nGET / HTTP/1.0\r\nHost: x\r\n\r\n" \
             "POST /p HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello" \
             "\r\n\r\nPUT /q HTTP/1.0\r\ncontent-length:0\r\n\r\n")
    expect(events).to eq([
      [:first, "GET / HTTP/1.0"],
      [:headers, ["GET / HTTP/1.0", "Host: x"]],
      [:request, ["GET / HTTP/1.0", "Host: x"], ""],
      [:first, "POST /p HTTP/1.0"],
      [:headers, ["POST /p HTTP/1.0", "Content-Length: 5"]],
      [:request, ["POST /p HTTP/1.0", "Content-Length: 5"], "hello"],
      [:first, "PUT /q HTTP/1.0"],
      [:headers, ["PUT /q HTTP/1.0", "content-length:0"]],
      [:request, ["PUT /q HTTP/1.0", "content-length:0"], ""]
    ])
  end

  it "passes a binary body byte for byte" do
    body = (0..255).to_a.pack("C*") * 4
    exchange("PUT /b\nContent-length: #{body.bytesize}\n\n#{body}".b)
    _, headers, content = events.last
    expect(headers).to eq(["PUT /b", "Content-length: 1024"])
    expect(content.b).to eq(body.b)
  end

  it "raises on a second Content-length header" do
    expect { exchange("GET\nContent-length: 1\nContent-length: 1\n\nx") }
      .to raise_error(RuntimeError, "extraneous content-length header")
  end

  it "headers_2_hash makes symbol keys, downcased with _ for -" do
    hash = described_class.headers_2_hash(["GET / HTTP/1.1", "Content-Type: text/plain", "X-A-B :  v : w", "junk"])
    expect(hash).to eq(content_type: "text/plain", x_a_b: "v : w")
    conn = described_class.allocate
    expect(conn.headers_2_hash(["A: 1"])).to eq(a: "1")
  end
end
