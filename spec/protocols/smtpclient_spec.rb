# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::SmtpClient do
  after { @peer&.close }

  let(:log) { [] }

  # A fake SMTP server on a thread; +overrides+ maps command patterns to
  # replies. It records every command and the DATA lines.
  def smtp_peer(overrides = {})
    log = self.log
    @peer = ProtocolHelpers::FakePeer.new do |sock, _|
      sock.write("220 fake ESMTP\r\n")
      loop do
        line = read_line(sock, 3)
        log << line
        custom = overrides.find { |pattern, _| pattern.match?(line) }
        if custom
          sock.write(custom.last)
        elsif line.start_with?("EHLO")
          sock.write("250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elsif line == "DATA"
          sock.write("354 go ahead\r\n")
          log << (data = read_line(sock)) until data == "."
          sock.write("250 2.0.0 queued\r\n")
        elsif line == "QUIT"
          sock.write("221 bye\r\n")
          break
        else
          sock.write("250 ok\r\n")
        end
      end
    end
    @peer.port
  end

  def deliver(args)
    outcome = nil
    run_em do
      mail = described_class.send(args)
      mail.callback { |r| outcome = [:ok, r]; EM.add_timer(0.1) { EM.stop } }
      mail.errback { |r| outcome = [:failed, r]; EM.add_timer(0.1) { EM.stop } }
    end
    outcome
  end

  it "delivers headers and a dot-stuffed body to every recipient" do
    port = smtp_peer
    status, r = deliver(host: "127.0.0.1", port: port, domain: "me.example", from: "a@x", to: ["b@x", "c@x"],
                        header: { "Subject" => "Hi", "To" => "b@x" }, body: "first\r\n.dot line\r\nlast")
    expect(status).to eq(:ok)
    expect(r.code).to eq(250)
    expect(r.elapsed_time).to be_a(Float)
    expect(log).to eq(["EHLO me.example", "MAIL FROM: <a@x>", "RCPT TO: <b@x>", "RCPT TO: <c@x>", "DATA",
                       "Subject: Hi", "To: b@x", "", "first", "..dot line", "last", ".", "QUIT"])
  end

  it "sends :message dot-stuffed and terminated, and :content as it is" do
    port = smtp_peer
    deliver(host: "127.0.0.1", port: port, domain: "d", from: "a@x", to: "b@x", message: "Subject: m\r\n\r\n.hidden")
    expect(log[3..-1]).to eq(["DATA", "Subject: m", "", "..hidden", ".", "QUIT"])
    log.clear
    deliver(host: "127.0.0.1", port: port, domain: "d", from: "a@x", to: "b@x", content: "raw\r\n.\r\n")
    expect(log[3..-1]).to eq(["DATA", "raw", ".", "QUIT"])
  end

  it "authenticates with AUTH PLAIN (the password may be a callable)" do
    port = smtp_peer(/\AAUTH/ => "235 ok\r\n")
    status, = deliver(host: "127.0.0.1", port: port, domain: "d", from: "a@x", to: "b@x", body: "x",
                      auth: { type: :plain, username: "u", password: -> { "p" } })
    expect(status).to eq(:ok)
    expect(log[1]).to eq("AUTH PLAIN #{["\0u\0p"].pack('m0')}")
  end

  it "fails with the server's reply when a step is refused" do
    port = smtp_peer(/\AMAIL/ => "550-no such\r\n550 sender\r\n")
    status, r = deliver(host: "127.0.0.1", port: port, domain: "d", from: "bad@x", to: "b@x", body: "x")
    expect(status).to eq(:failed)
    expect([r.code, r.responder]).to eq([550, :receive_mail_from_response])
    expect(log.last).to eq("QUIT")
  end

  it "fails when every recipient is refused, and sends no DATA" do
    port = smtp_peer(/\ARCPT/ => "550 unknown user\r\n")
    status, = deliver(host: "127.0.0.1", port: port, domain: "d", from: "a@x", to: %w[b@x c@x], body: "x")
    expect(status).to eq(:failed)
    expect(log).not_to include("DATA")
  end

  it "sends the message when at least one recipient is accepted" do
    port = smtp_peer(/\ARCPT TO: <bad/ => "550 unknown user\r\n")
    status, = deliver(host: "127.0.0.1", port: port, domain: "d", from: "a@x", to: %w[bad@x good@x], body: "x")
    expect(status).to eq(:ok)
  end

  it "fails locally (code 900) for an unsupported auth type" do
    port = smtp_peer
    status, r = deliver(host: "127.0.0.1", port: port, domain: "d", from: "a@x", to: "b@x",
                        auth: { type: :cram_md5, username: "u", password: "p" })
    expect(status).to eq(:failed)
    # EventMachine keeps updating the reported values from later replies.
    expect([r.code, r.message]).to eq([900, "unsupported auth type"]) unless real_em_code?(described_class)
  end

  it "fails when the server cannot be reached" do
    status, r = deliver(host: "127.0.0.1", port: closed_port, domain: "d", from: "a@x", to: "b@x")
    expect(status).to eq(:failed)
    expect(r.code).to be_nil
  end

  it "talks to EM::P::SmtpServer" do
    got = []
    server = Class.new(EM::P::SmtpServer) do
      define_method(:receive_sender) { |s| got << s }
      define_method(:receive_recipient) { |r| got << r }
      define_method(:receive_data_chunk) { |lines| got.concat(lines) }
    end
    result = nil
    run_em do
      port = em_server(server)
      mail = described_class.send(host: "127.0.0.1", port: port, domain: "c", from: "a@x", to: "b@x",
                                  header: "Subject: s\r\n", body: ".x")
      mail.callback { |r| result = r.code; EM.stop }
      mail.errback { |r| result = r; EM.stop }
    end
    expect(result).to eq(250)
    expect(got).to eq(["<a@x>", "<b@x>", "Subject: s", "", ".x"])
  end
end
