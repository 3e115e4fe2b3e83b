# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::SmtpServer do
  after { described_class.parms = { starttls: nil, auth: nil, chunksize: 4000, verbose: false } }

  # Connects a scripted client to a server of +server_class+: after the
  # greeting and after each complete reply it sends the next item of
  # +script+ (a String gets "\r\n" appended). Returns the replies, each an
  # Array of lines.
  def dialog(server_class, script)
    replies = []
    run_em do
      port = em_server(server_class)
      client = Class.new(EM::Connection) do
        define_method(:post_init) do
          @buf = +""
          @current = []
          @script = script.dup
        end
        define_method(:receive_data) do |data|
          @buf << data
          while (line = @buf.slice!(/\A.*?\r\n/))
            line = line.chomp
            @current << line
            next if line[3] == "-"

            replies << @current
            @current = []
            step = @script.shift
            step ? send_data("#{step}\r\n") : EM.stop
          end
        end
        define_method(:unbind) { EM.stop }
      end
      EM.connect("127.0.0.1", port, client)
    end
    replies
  end

  let(:log) { [] }
  let(:recording_server) do
    log = self.log
    Class.new(described_class) do
      define_method(:receive_ehlo_domain) { |d| log << [:ehlo, d]; d != "bad.example" }
      define_method(:receive_sender) { |s| log << [:sender, s]; !s.include?("spam") }
      define_method(:receive_recipient) { |r| log << [:rcpt, r]; !r.include?("nobody") }
      define_method(:receive_data_command) { log << [:data]; true }
      define_method(:receive_data_chunk) { |lines| log << [:chunk, lines.dup] }
      define_method(:receive_message) { log << [:message]; true }
      define_method(:receive_transaction) { log << [:transaction] }
      define_method(:receive_reset) { log << [:reset] }
      define_method(:receive_plain_auth) { |u, p| log << [:auth, u, p]; p == "secret" }
      define_method(:connection_ended) { log << [:ended] }
      define_method(:get_server_domain) { "mx.test" }
      define_method(:get_server_greeting) { "mx.test ESMTP ready" }
    end
  end

  it "greets, then takes a message through EHLO, MAIL, RCPT, DATA and QUIT" do
    replies = dialog(recording_server, [
      "EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>",
      "RCPT TO: <nobody@example.com>", "DATA", "Subject: hi\r\n\r\nline one\r\n..dotted\r\n.", "QUIT"
    ])
    expect(replies).to eq([
      ["220 mx.test ESMTP ready"],
      ["250-mx.test", "250-NO-SOLICITING", "250 SIZE 20000000"],
      ["250 Ok"], ["250 Ok"], ["550 recipient is unacceptable"],
      ["354 Send it"], ["250 Message accepted"], ["221 Ok"]
    ])
    expect(log).to eq([
      [:ehlo, "client.example"], [:transaction], [:sender, "<a@example.com>"], [:rcpt, "<b@example.com>"],
      [:rcpt, "<nobody@example.com>"], [:data], [:chunk, ["Subject: hi", "", "line one", ".dotted"]],
      [:message], [:transaction], [:ended]
    ])
  end

  it "enforces the command order and answers the simple commands" do
    replies = dialog(recording_server, [
      "RCPT TO:<x@y>", "DATA", "HELO old.example", "MAIL FROM:<spam@x>", "MAIL FROM:<ok@x>",
      "MAIL FROM:<again@x>", "NOOP", "VRFY bob", "EXPN list", "HELP", "RSET", "RCPT TO:<x@y>",
      "BOGUS", "STARTTLS", "EHLO bad.example"
    ])
    expect(replies.drop(1)).to eq([
      ["503 MAIL is required before RCPT"], ["503 Operation sequence error"], ["250 mx.test"],
      ["550 sender is unacceptable"], ["250 Ok"], ["503 MAIL already given"], ["250 Ok"],
      ["502 Command not implemented"], ["502 Command not implemented"], ["250 Ok, but unimplemented"],
      ["250 Ok"], ["503 MAIL is required before RCPT"], ["500 Unknown command"], ["500 Unknown command"],
      ["550 Requested action not taken"]
    ])
    expect(log).to include([:reset])
  end

  it "supports AUTH PLAIN inline and as a continuation, and can require it" do
    described_class.parms = { auth: :required }
    creds = ["\0user\0secret"].pack("m0")
    wrong = ["\0user\0wrong"].pack("m0")
    replies = dialog(recording_server, [
      "EHLO c", "MAIL FROM:<a@x>", "AUTH PLAIN #{wrong}", "AUTH PLAIN", creds, "AUTH PLAIN #{creds}",
      "AUTH LOGIN", "MAIL FROM:<a@x>"
    ])
    expect(replies.drop(1)).to eq([
      ["250-mx.test", "250-AUTH PLAIN", "250-NO-SOLICITING", "250 SIZE 20000000"],
      ["550 This server requires authentication before MAIL FROM"],
      ["535 invalid authentication"], ["334 "], ["235 authentication ok"], ["503 auth already issued"],
      ["503 auth already issued"], ["250 Ok"]
    ])
    expect(log).to include([:auth, "user", "wrong"], [:auth, "user", "secret"])
  end

  it "advertises STARTTLS when enabled and requires EHLO before it" do
    described_class.parms = { starttls: true }
    replies = dialog(recording_server, ["STARTTLS", "EHLO c"])
    expect(replies.drop(1)).to eq([
      ["503 EHLO required before STARTTLS"],
      ["250-mx.test", "250-STARTTLS", "250-NO-SOLICITING", "250 SIZE 20000000"]
    ])
  end

  it "hands long messages over in chunks of :chunksize lines" do
    described_class.parms = { chunksize: 2 }
    body = (1..5).map { |i| "l#{i}" }.join("\r\n")
    dialog(recording_server, ["HELO c", "MAIL FROM:<a@x>", "RCPT TO:<b@x>", "DATA", "#{body}\r\n."])
    expect(log.select { |e| e.first == :chunk }).to eq([[:chunk, %w[l1 l2 l3]], [:chunk, %w[l4 l5]]])
  end

  it "accepts Deferrables from the hooks" do
    server = Class.new(described_class) do
      def receive_recipient(rcpt)
        d = EM::DefaultDeferrable.new
        EM.add_timer(0.05) { rcpt.include?("ok") ? d.succeed : d.fail }
        d
      end

      def receive_message
        EM::DefaultDeferrable.new.tap(&:fail)
      end

      def receive_data_chunk(_lines); end
    end
    replies = dialog(server, ["HELO c", "MAIL FROM:<a@x>", "RCPT TO:<no@x>", "RCPT TO:<ok@x>", "DATA", "x\r\n."])
    expect(replies.drop(3)).to eq([["550 recipient is unacceptable"], ["250 Ok"], ["354 Send it"], ["550 Message rejected"]])
  end
end
