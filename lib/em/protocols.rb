# frozen_string_literal: true

module EventMachine
  # Ready-made protocol handlers, each loaded the first time it is named:
  # line and text framing (LineText2, LineAndTextProtocol, LineProtocol,
  # HeaderAndContentProtocol), ObjectProtocol, HttpClient and HttpClient2,
  # SmtpClient and SmtpServer, Stomp, SASLauth/SASLauthclient, Memcache,
  # Postgres3, Socks4 and TcpConnectTester. Also reachable as EM::P.
  module Protocols
    {
      TcpConnectTester: "tcptest",
      HttpClient: "httpclient",
      HttpClient2: "httpclient2",
      LineAndTextProtocol: "line_and_text",
      HeaderAndContentProtocol: "header_and_content",
      LineText2: "linetext2",
      LineProtocol: "line_protocol",
      ObjectProtocol: "object_protocol",
      Stomp: "stomp",
      SmtpClient: "smtpclient",
      SmtpServer: "smtpserver",
      SASLauth: "saslauth",
      SASLauthclient: "saslauth",
      Memcache: "memcache",
      Postgres3: "postgres3",
      Socks4: "socks4"
    }.each do |name, file|
      autoload name, File.expand_path("protocols/#{file}.rb", __dir__)
    end
  end

  P = Protocols unless const_defined?(:P, false)
end
