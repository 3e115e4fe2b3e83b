# frozen_string_literal: true
require "spec_helper"
require "stringio"

# faye-websocket (Debian ruby-faye-websocket), unchanged, as a server inside
# thin (its thin adapter) and behind a rack.hijack server, and as a client.
# faye calls EM.connect, EM.attach (of a hijacked socket, through EM.schedule
# from the web server's thread), add_timer / add_periodic_timer / cancel_timer,
# next_tick, and starts `EM.run` on a thread of its own when none is running.
RSpec.describe "faye-websocket", :integration do
  before(:context) do
    use_gems(:thin, :faye)
    Faye::WebSocket.load_adapter("thin")
  end

  # A Rack app: WebSocket requests get a faye server socket that echoes,
  # answers "push 3" with three messages and "bye" by closing from the server
  # side; everything else gets a plain response.
  def faye_app(log)
    lambda do |env|
      if Faye::WebSocket.websocket?(env)
        ws = Faye::WebSocket.new(env, nil, ping: 0.1)
        ws.on(:open) { log << [:server_open, env["PATH_INFO"]] }
        ws.on(:message) do |ev|
          case ev.data
          when "bye" then ws.close(4000, "server says bye")
          when /\Apush (\d+)\z/ then Regexp.last_match(1).to_i.times { |i| ws.send("pushed #{i}") }
          else ws.send(ev.data)
          end
        end
        ws.on(:close) { |ev| log << [:server_close, ev.code] }
        ws.rack_response
      else
        rack_text("plain #{env['PATH_INFO']}")
      end
    end
  end

  it "serves WebSocket and plain HTTP from one thin app; echo, server push, ping/pong, server-side close" do
    log = []
    got = []
    pong = false
    closed = nil
    plain = nil
    run_em(8, what: "faye conversation") do
      server = start_thin(faye_app(log))
      base = "#{IntegrationHelpers::HOST}:#{server.port}"
      finish = -> { EM.add_timer(0.05) { EM.stop } if closed && plain }
      # a plain HTTP/1.0 request to the same server, with a Module handler
      EM.connect(IntegrationHelpers::HOST, server.port, Module.new {
        define_method(:connection_completed) { send_data("GET /page HTTP/1.0\r\n\r\n") }
        define_method(:receive_data) { |d| (@buf ||= +"") << d }
        define_method(:unbind) { plain = @buf.to_s.split("\r\n\r\n", 2)[1]; finish.call }
      })
      ws = Faye::WebSocket::Client.new("ws://#{base}/socket")
      ws.on(:open) do
        ws.send("echo me")
        ws.ping("are you there") { pong = true }
      end
      ws.on(:message) do |ev|
        got << ev.data
        ws.send("push 3") if got == ["echo me"]
        ws.send("bye") if got.size == 4
      end
      ws.on(:close) do |ev|
        closed = [ev.code, ev.reason]
        finish.call
      end
    end
    expect(got).to eq(["echo me", "pushed 0", "pushed 1", "pushed 2"])
    expect(pong).to be(true)
    expect(closed).to eq([4000, "server says bye"])
    expect(log).to eq([[:server_open, "/socket"], [:server_close, 4000]])
    expect(plain).to eq("plain /page")
  end

  it "reports a refused connection as a close with code 1006" do
    closed = nil
    errors = []
    port = closed_port
    run_em(8, what: "faye close after a refused connect") do
      ws = Faye::WebSocket::Client.new("ws://#{IntegrationHelpers::HOST}:#{port}/")
      ws.on(:error) { |ev| errors << ev.message }
      ws.on(:close) { |ev| closed = ev.code; EM.stop }
    end
    expect(closed).to eq(1006)
    expect(errors.size).to eq(1)
  end

  it "drives a client from another thread (EM.schedule) against thin in a background reactor" do
    log = []
    events = Queue.new
    with_background_reactor do |bg|
      port = bg.on_reactor { start_thin(faye_app(log)).port }
      bg.on_reactor do
        ws = Faye::WebSocket::Client.new("ws://#{IntegrationHelpers::HOST}:#{port}/bg")
        ws.on(:open) { ws.send("from #{EM.reactor_thread? ? 'reactor' : 'elsewhere'}") }
        ws.on(:message) { |ev| events << ev.data; ws.close }
        ws.on(:close) { |ev| events << [:closed, ev.code] }
      end
      expect(pop(events, what: "an echo")).to eq("from reactor")
      expect(pop(events, what: "a close")).to eq([:closed, 1000])
    end
    expect(EM.reactor_running?).to be(false)
  end

  # A minimal threaded server that hijacks the socket as puma does: the app
  # runs on the server's own thread, faye starts the reactor (its
  # ensure_reactor_running) and EM.attach-es the hijacked socket via EM.schedule.
  it "takes over a rack.hijack socket: faye starts EM.run on its own thread and attaches the socket", timeout: 15 do
    raise "a reactor is already running" if EM.reactor_running?
    listener = TCPServer.new(IntegrationHelpers::HOST, 0)
    port = listener.addr[1]
    server_events = Queue.new
    hijacked = nil
    server_thread = Thread.new do
      Thread.current.report_on_exception = false
      sock = listener.accept
      head = +""
      deadline = now + 5
      head << read_exactly(sock, 1, deadline) until head.end_with?("\r\n\r\n")
      request_line, *lines = head.split("\r\n")
      _verb, target, = request_line.split(" ")
      path, query = target.split("?", 2)
      env = { "REQUEST_METHOD" => "GET", "SCRIPT_NAME" => "", "PATH_INFO" => path, "QUERY_STRING" => query.to_s,
              "SERVER_NAME" => IntegrationHelpers::HOST, "SERVER_PORT" => port.to_s, "rack.url_scheme" => "http",
              "rack.input" => StringIO.new(+"") }
      lines.each { |l| k, v = l.split(":", 2); env["HTTP_#{k.upcase.tr('-', '_')}"] = v.strip }
      env["rack.hijack"] = -> { hijacked = env["rack.hijack_io"] = sock }
      ws = Faye::WebSocket.new(env)
      ws.on(:message) { |ev| ws.send("hijacked #{ev.data}") }
      ws.on(:close) { |ev| server_events << [:server_close, ev.code] }
      ws.rack_response
      server_events << [:app_returned, EM.reactor_running?, EM.reactor_thread?]
    rescue Exception => e # rubocop:disable Lint/RescueException -- reported to the example
      server_events << [:server_error, e]
    end

    client = TCPSocket.new(IntegrationHelpers::HOST, port)
    begin
      key, head = ws_handshake(client, "/hijack?a=b")
      expect(head.lines.first).to start_with("HTTP/1.1 101")
      expect(head).to include("Sec-WebSocket-Accept: #{ws_accept_for(key)}")
      first = pop(server_events, what: "the app to return")
      raise first[1] if first[0] == :server_error
      expect(first).to eq([:app_returned, true, false])
      client.write(client_frame(0x1, "over attach"))
      expect(read_frame(client)).to eq([0x1, "hijacked over attach"])
      client.write(client_frame(0x8, [1000].pack("n")))
      expect(read_frame(client)[0]).to eq(0x8)
      wait_for_eof(client, timeout: 5)
      expect(pop(server_events, what: "the server's close event")).to eq([:server_close, 1000])
      # EventMachine closes the IO of an attached (not watched) connection when it unbinds.
      deadline = now + 3
      sleep 0.01 until hijacked.closed? || now > deadline
      expect(hijacked.closed?).to be(true)
    ensure
      client.close
      listener.close
      server_thread.join(2) || server_thread.kill
      if EM.reactor_running?
        reactor = EM.reactor_thread
        EM.schedule { EM.stop }
        reactor.join(5) or raise "faye's reactor thread did not stop"
      end
    end
  end
end
