# frozen_string_literal: true
require "json"

# Programs require these files by name; EM::Protocols autoloads its members;
# EM::P is EM::Protocols.
RSpec.describe "protocol and helper files" do
  features = %w[
    em/buftok em/protocols em/resolver em/processes em/streamer em/io_streamer em/file_watch em/process_watch
  ] + %w[
    header_and_content httpclient httpclient2 line_and_text line_protocol linetext2 memcache object_protocol
    saslauth smtpclient smtpserver socks4 stomp tcptest
  ].map { |f| "em/protocols/#{f}" }

  it "each loads by its EventMachine name (from em_rust's lib/ in em_rust mode)" do
    code = <<~RUBY
      require "json"
      out = {}
      #{features.inspect}.each do |f|
        require f
        out[f] = $LOADED_FEATURES.grep(%r{/\#{Regexp.escape(f)}\\.rb\\z})
      end
      out["__real_em__"] = $LOADED_FEATURES.grep(#{REAL_EM_FILES.inspect})
      print "\\nREPORT:", JSON.generate(out), "\\n"
    RUBY
    r = run_ruby(code)
    expect(r.success?).to be(true), r.output
    report = JSON.parse(r.output[/^REPORT:(.*)$/, 1] || raise("no report in:\n#{r.output}"))
    features.each do |f|
      expect(report[f].size).to eq(1), "#{f}: #{report[f].inspect}"
      expect(report[f].first).to start_with(CoreHelpers::LIB_DIR) if em_rust?
    end
    expect(report["__real_em__"]).to eq([]) if em_rust?
  end

  it "EM::P is EM::Protocols and every protocol autoloads" do
    expect(EM::P).to equal(EM::Protocols)
    names = %i[LineText2 LineAndTextProtocol LineProtocol HeaderAndContentProtocol ObjectProtocol HttpClient
               HttpClient2 SmtpClient SmtpServer Stomp SASLauth Memcache Socks4 TcpConnectTester]
    names.each { |n| expect(EM::P.const_get(n)).to be_a(Module) }
    expect(EM::P::SASLauthclient).to be_a(Module)
  end
end
