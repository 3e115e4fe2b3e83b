# frozen_string_literal: true
require "spec_helper"
require "digest"

# sinatra (Debian ruby-sinatra 3) on thin, unchanged: `stream` and server-sent
# events. Under thin (env["async.callback"] is set) Sinatra::Helpers::Stream
# uses EventMachine as its scheduler: the stream block runs through EM.defer
# (a pool thread), each `out << data` is EM.schedule-d onto the reactor, and
# `out.close` runs the callbacks thin registered on the body. Stream aliases
# errback to callback, so thin registers terminate_request twice, and its
# close_connection_after_writing is called twice in one tick: everything queued
# must still be written before the close (EventMachine's behaviour).
RSpec.describe "sinatra stream and server-sent events on thin", :integration do
  before(:context) do
    use_gems(:thin)
    require_real_gems!("ruby-sinatra", "sinatra/base")
  end

  def sinatra_app(&routes)
    Class.new(Sinatra::Base) do
      set :environment, :test
      set :raise_errors, true
      set :show_exceptions, false
      set :logging, false
      class_eval(&routes)
    end
  end

  # Sends a GET, then reads until the server closes the connection; returns
  # [status, headers, body, [[seconds after the request, chunk], ...]].
  def get_until_close(port, path, timeout: 8)
    TCPSocket.open(IntegrationHelpers::HOST, port) do |sock|
      t0 = now
      sock.write("GET #{path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
      buf = +"".b
      chunks = []
      deadline = t0 + timeout
      loop do
        left = deadline - now
        raise "the response did not end within #{timeout}s; got #{buf.bytesize} bytes" if left <= 0 || !IO.select([sock], nil, nil, left)
        chunk = sock.read_nonblock(262_144, exception: false)
        break if chunk.nil?
        next if chunk == :wait_readable
        buf << chunk
        chunks << [now - t0, chunk]
      end
      head, body = buf.split("\r\n\r\n", 2)
      status_line, *lines = head.split("\r\n")
      headers = lines.to_h { |l| k, v = l.split(":", 2); [k.downcase, v.to_s.strip] }
      [status_line[/\d{3}/].to_i, headers, body.to_s, chunks]
    end
  end

  # Reads from `sock` until `buf` holds `n` complete events (blank-line
  # terminated); returns them parsed as hashes of field => value.
  def read_events(sock, buf, n, timeout: 5)
    deadline = now + timeout
    while buf.scan("\n\n").size < n
      left = deadline - now
      raise "only #{buf.scan("\n\n").size}/#{n} events within #{timeout}s: #{buf.inspect[0, 300]}" if left <= 0 || !IO.select([sock], nil, nil, left)
      chunk = sock.read_nonblock(65_536, exception: false)
      raise EOFError, "closed after #{buf.scan("\n\n").size}/#{n} events" if chunk.nil?
      buf << chunk unless chunk == :wait_readable
    end
    take_events(buf, n)
  end

  # Removes the first `n` events from `buf` and parses each into a hash of
  # field => value (repeated fields joined with newlines, as EventSource does).
  def take_events(buf, n)
    Array.new(n) do
      raw, rest = buf.split("\n\n", 2)
      buf.replace(rest.to_s)
      raw.split("\n").each_with_object({}) do |line, ev|
        field, value = line.split(": ", 2)
        ev[field] = ev.key?(field) ? "#{ev[field]}\n#{value}" : value.to_s
      end
    end
  end

  it "streams 1,000 lines written by the stream block and closes: the whole body arrives" do
    app = sinatra_app do
      get("/lines") { stream { |out| 1000.times { |i| out << "line #{i}\n" } } }
    end
    status, headers, body, = reactor_with_client do
      port = start_thin(app).port
      -> { get_until_close(port, "/lines") }
    end
    expect(status).to eq(200)
    expect(headers["connection"]).to eq("close")
    expect(body).to eq(Array.new(1000) { |i| "line #{i}\n" }.join)
  end

  it "streams 4 MiB in 64 KiB writes and closes: nothing still queued at the (doubled) close is lost" do
    data = Random.new(5).bytes(4 << 20)
    app = sinatra_app do
      get("/big") do
        content_type "application/octet-stream"
        stream { |out| (0...data.bytesize).step(65_536) { |off| out << data.byteslice(off, 65_536) } }
      end
    end
    status, _headers, body, = reactor_with_client(timeout: 10) do
      port = start_thin(app).port
      -> { get_until_close(port, "/big", timeout: 9) }
    end
    expect(status).to eq(200)
    expect(body.bytesize).to eq(data.bytesize)
    expect(Digest::SHA256.hexdigest(body)).to eq(Digest::SHA256.hexdigest(data))
  end

  it "sends each chunk as it is written (keep_open, chunks from reactor timers), not at the end" do
    app = sinatra_app do
      get("/slow") do
        stream(:keep_open) do |out|
          out << "first\n"
          EM.add_timer(0.6) { out << "second\n"; out.close }
        end
      end
    end
    status, _headers, body, chunks = reactor_with_client do
      port = start_thin(app).port
      -> { get_until_close(port, "/slow") }
    end
    expect(status).to eq(200)
    expect(body).to eq("first\nsecond\n")
    first_at = chunks.find { |_, c| c.include?("first") }.first
    second_at = chunks.find { |_, c| c.include?("second") }.first
    expect(second_at).to be >= 0.6
    expect(second_at - first_at).to be > 0.3 # "first" arrived long before the stream ended
  end

  it "serves server-sent events (text/event-stream) with id, event and multi-line data fields" do
    app = sinatra_app do
      get("/events", provides: "text/event-stream") do
        stream(:keep_open) do |out|
          n = 0
          timer = EM.add_periodic_timer(0.005) do
            out << "id: #{n}\nevent: tick\ndata: line one of #{n}\ndata: line two\n\n"
            n += 1
            if n == 50
              timer.cancel
              out << "event: done\ndata: bye\n\n"
              out.close
            end
          end
        end
      end
    end
    status, headers, body, = reactor_with_client do
      port = start_thin(app).port
      -> { get_until_close(port, "/events") }
    end
    expect(status).to eq(200)
    expect(headers["content-type"]).to start_with("text/event-stream")
    buf = body.dup
    events = take_events(buf, 51)
    expect(events.first(50)).to eq(Array.new(50) do |i|
      { "id" => i.to_s, "event" => "tick", "data" => "line one of #{i}\nline two" }
    end)
    expect(events.last).to eq("event" => "done", "data" => "bye")
    expect(buf).to eq("")
  end

  it "broadcasts events to every open subscriber, and forgets a subscriber when its client disconnects" do
    connections = []
    gone = Queue.new
    app = sinatra_app do
      get("/subscribe", provides: "text/event-stream") do
        name = params["name"]
        close = env["async.close"]
        stream(:keep_open) do |out|
          connections << [name, out]
          out << "event: hello\ndata: #{name}\n\n"
          close.callback do # thin: the client went away
            connections.delete_if { |_, o| o.equal?(out) }
            out.close
            gone << name
          end
        end
      end
      post("/broadcast") do
        msg = request.body.read
        connections.each { |_, out| out << "data: #{msg}\n\n" }
        "sent to #{connections.size}\n"
      end
    end
    result = reactor_with_client do
      port = start_thin(app).port
      lambda do
        socks = %w[a b].to_h { |n| [n, TCPSocket.new(IntegrationHelpers::HOST, port)] }
        bufs = socks.transform_values { +"".b }
        hello = socks.to_h do |n, s|
          s.write("GET /subscribe?name=#{n} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
          b = bufs[n]
          deadline = now + 5
          until b.include?("\r\n\r\n")
            raise "no response head" if now > deadline || !IO.select([s], nil, nil, 1)
            b << s.read_nonblock(65_536)
          end
          b.replace(b.split("\r\n\r\n", 2)[1])
          [n, read_events(s, b, 1)]
        end
        first = net_http(port).start { |h| h.post("/broadcast", "one", "Content-Type" => "text/plain").body }
        got_one = socks.to_h { |n, s| [n, read_events(s, bufs[n], 1)] }
        socks["a"].close
        left = IntegrationHelpers.pop(gone, timeout: 5, what: "the server to see subscriber a disconnect")
        second = net_http(port).start { |h| h.post("/broadcast", "two", "Content-Type" => "text/plain").body }
        got_two = read_events(socks["b"], bufs["b"], 1)
        socks["b"].close
        { hello: hello, first: first, got_one: got_one, left: left, second: second, got_two: got_two }
      end
    end
    expect(result[:hello]).to eq("a" => [{ "event" => "hello", "data" => "a" }], "b" => [{ "event" => "hello", "data" => "b" }])
    expect(result[:first]).to eq("sent to 2\n")
    expect(result[:got_one]).to eq("a" => [{ "data" => "one" }], "b" => [{ "data" => "one" }])
    expect(result[:left]).to eq("a")
    expect(result[:second]).to eq("sent to 1\n")
    expect(result[:got_two]).to eq([{ "data" => "two" }])
  end
end
