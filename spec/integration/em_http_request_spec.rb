# frozen_string_literal: true
require "spec_helper"
require "digest"
require "tmpdir"
require "pathname" # em-http-request uses Pathname for file: bodies without requiring it

# em-http-request (Debian ruby-em-http-request) as a client, unchanged, against
# thin and plain EM servers in the same reactor. It connects with
# EM.bind_connect, sets pending_connect_timeout= / comm_inactivity_timeout=,
# reads get_peername, streams file bodies with stream_file_data and reuses
# connections with reconnect.
RSpec.describe "em-http-request", :integration do
  before(:context) { use_gems(:thin, :em_http) }

  # Routes: /hello, /echo (method, content type, body digest and body),
  # /headers (the request's X- headers), /r/N (a chain of N relative
  # redirects to /hello), /big (2 MiB), /conn (the serving thin connection).
  let(:big) { Random.new(11).bytes(2 << 20) }

  def app
    big = self.big
    lambda do |env|
      case env["PATH_INFO"]
      when "/hello" then rack_text("hello #{env['QUERY_STRING']}".strip)
      when "/echo"
        body = env["rack.input"].read
        rack_text([env["REQUEST_METHOD"], env["CONTENT_TYPE"].to_s, body.bytesize, Digest::SHA256.hexdigest(body), body.byteslice(0, 200)].join("|"))
      when "/headers"
        rack_text(env.select { |k, _| k.start_with?("HTTP_X_") }.sort.map { |k, v| "#{k}=#{v}" }.join(","), headers: { "X-Reply" => "yes" })
      when %r{\A/r/(\d+)\z}
        n = Regexp.last_match(1).to_i
        [302, { "Location" => n > 1 ? "/r/#{n - 1}" : "/hello", "Content-Length" => "0" }, []]
      when "/big" then [200, { "Content-Type" => "application/octet-stream", "Content-Length" => big.bytesize.to_s }, [big]]
      when "/conn" then rack_text(env["async.callback"].receiver.object_id.to_s)
      when "/peer" then rack_text(env["REMOTE_ADDR"])
      else rack_text("not found", status: 404)
      end
    end
  end

  # Runs the reactor with thin serving `app`; yields the base URL inside it.
  def with_thin(timeout: 8)
    run_em(timeout, what: "em-http response") do
      server = start_thin(app)
      yield "http://#{IntegrationHelpers::HOST}:#{server.port}"
    end
  end

  it "GETs a page: status, headers, body and peer" do
    got = nil
    with_thin do |base|
      http = EM::HttpRequest.new("#{base}/hello?x=1").get
      http.callback { got = [http.response_header.status, http.response_header["CONTENT_TYPE"], http.response, http.peer]; EM.stop }
      http.errback { got = [:error, http.error]; EM.stop }
    end
    expect(got).to eq([200, "text/plain", "hello x=1", "127.0.0.1"])
  end

  it "sends custom request headers and parses the response's" do
    got = nil
    with_thin do |base|
      http = EM::HttpRequest.new("#{base}/headers").get(head: { "X-One" => "1", "X-Two" => "two" })
      http.callback { got = [http.response, http.response_header["X_REPLY"]]; EM.stop }
      http.errback { got = [:error, http.error]; EM.stop }
    end
    expect(got).to eq(["HTTP_X_ONE=1,HTTP_X_TWO=two", "yes"])
  end

  it "POSTs a form, a raw body and a PUT, and the server receives them intact" do
    results = {}
    with_thin do |base|
      reqs = {
        form: EM::HttpRequest.new("#{base}/echo").post(body: { "a" => "1", "b" => "x y" }),
        raw: EM::HttpRequest.new("#{base}/echo").post(body: "raw\0bytes\xFF".b, head: { "Content-Type" => "application/octet-stream" }),
        put: EM::HttpRequest.new("#{base}/echo").put(body: "put-body")
      }
      reqs.each do |name, http|
        http.callback { results[name] = http.response; EM.stop if results.size == reqs.size }
        http.errback { results[name] = [:error, http.error]; EM.stop if results.size == reqs.size }
      end
    end
    expect(results[:form]).to eq("POST|application/x-www-form-urlencoded|11|#{Digest::SHA256.hexdigest('a=1&b=x%20y')}|a=1&b=x%20y")
    raw = "raw\0bytes\xFF".b
    expect(results[:raw].b).to eq("POST|application/octet-stream|#{raw.bytesize}|#{Digest::SHA256.hexdigest(raw)}|".b + raw)
    expect(results[:put]).to eq("PUT||8|#{Digest::SHA256.hexdigest('put-body')}|put-body")
  end

  it "uploads files with stream_file_data (a small one and one past the mapping threshold)" do
    Dir.mktmpdir("em_rust-http") do |dir|
      files = { small: 10_000, large: 300_000 }.to_h do |name, size|
        path = File.join(dir, "#{name}.bin")
        File.binwrite(path, Random.new(size).bytes(size))
        [name, path]
      end
      results = {}
      with_thin do |base|
        files.each do |name, path|
          http = EM::HttpRequest.new("#{base}/echo").post(file: path, head: { "Content-Type" => "application/octet-stream" })
          http.callback { results[name] = http.response.split("|")[0, 4]; EM.stop if results.size == files.size }
          http.errback { results[name] = [:error, http.error]; EM.stop if results.size == files.size }
        end
      end
      files.each do |name, path|
        data = File.binread(path)
        expect(results[name]).to eq(["POST", "application/octet-stream", data.bytesize.to_s, Digest::SHA256.hexdigest(data)])
      end
    end
  end

  it "follows a chain of redirects, and leaves a redirect alone when told to" do
    followed = unfollowed = nil
    with_thin do |base|
      done = -> { EM.stop if followed && unfollowed }
      http = EM::HttpRequest.new("#{base}/r/3").get(redirects: 5)
      http.callback { followed = [http.response_header.status, http.redirects, http.last_effective_url.path, http.response]; done.call }
      http.errback { followed = [:error, http.error]; done.call }
      raw = EM::HttpRequest.new("#{base}/r/1").get
      raw.callback { unfollowed = [raw.response_header.status, raw.response_header.location, raw.redirects]; done.call }
      raw.errback { unfollowed = [:error, raw.error]; done.call }
    end
    expect(followed).to eq([200, 3, "/hello", "hello"])
    expect(unfollowed[0]).to eq(302)
    expect(unfollowed[1]).to end_with("/hello")
    expect(unfollowed[2]).to eq(0)
  end

  it "reuses one connection for keep-alive requests" do
    ids = []
    with_thin do |base|
      conn = EM::HttpRequest.new(base)
      first = conn.get(path: "/conn", keepalive: true)
      first.errback { ids << [:error, first.error]; EM.stop }
      first.callback do
        ids << first.response
        second = conn.get(path: "/conn", keepalive: true)
        second.callback { ids << second.response; EM.stop }
        second.errback { ids << [:error, second.error]; EM.stop }
      end
    end
    expect(ids.size).to eq(2)
    expect(ids[0]).to match(/\A\d+\z/)
    expect(ids[1]).to eq(ids[0])
  end

  it "runs 20 requests in parallel with EM::MultiRequest" do
    responses = nil
    with_thin do |base|
      multi = EM::MultiRequest.new
      20.times { |i| multi.add(i, EM::HttpRequest.new("#{base}/hello?#{i}").get) }
      multi.callback do
        responses = [multi.responses[:callback].to_h { |k, h| [k, h.response] }, multi.responses[:errback].keys]
        EM.stop
      end
    end
    expect(responses[0]).to eq(Array.new(20) { |i| [i, "hello #{i}"] }.to_h)
    expect(responses[1]).to eq([])
  end

  it "streams a 2 MiB body chunk by chunk" do
    chunks = []
    status = nil
    with_thin do |base|
      http = EM::HttpRequest.new("#{base}/big").get
      http.stream { |chunk| chunks << chunk }
      http.callback { status = http.response_header.status; EM.stop }
      http.errback { status = [:error, http.error]; EM.stop }
    end
    expect(status).to eq(200)
    body = chunks.join
    expect(body.bytesize).to eq(big.bytesize)
    expect(Digest::SHA256.hexdigest(body)).to eq(Digest::SHA256.hexdigest(big))
    expect(chunks.size).to be > 1
  end

  it "connects from a bound local address (EM.bind_connect)" do
    got = nil
    with_thin do |base|
      http = EM::HttpRequest.new("#{base}/peer", bind: { host: IntegrationHelpers::HOST }).get
      http.callback { got = http.response; EM.stop }
      http.errback { got = [:error, http.error]; EM.stop }
    end
    expect(got).to eq(IntegrationHelpers::HOST)
  end

  it "fails with a timeout when the server accepts but never answers (inactivity timeout)" do
    silent = Class.new(EM::Connection) { def receive_data(_data) = nil }
    result = nil
    t0 = now
    run_em(8, what: "em-http timeout") do
      sig = EM.start_server(IntegrationHelpers::HOST, 0, silent)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]
      http = EM::HttpRequest.new("http://#{IntegrationHelpers::HOST}:#{port}/", inactivity_timeout: 0.5).get
      http.callback { result = [:callback, http.response_header.status]; EM.stop }
      http.errback { result = [:errback, http.error, now - t0]; EM.stop }
    end
    expect(result[0, 2]).to eq([:errback, Errno::ETIMEDOUT])
    expect(result[2]).to be_between(0.4, 5)
  end

  it "fails at once with ECONNREFUSED on a closed port" do
    result = nil
    port = closed_port
    t0 = now
    run_em(5, what: "em-http refusal") do
      http = EM::HttpRequest.new("http://#{IntegrationHelpers::HOST}:#{port}/", connect_timeout: 3).get
      http.callback { result = [:callback]; EM.stop }
      http.errback { result = [:errback, http.error, now - t0]; EM.stop }
    end
    expect(result[0, 2]).to eq([:errback, Errno::ECONNREFUSED])
    expect(result[2]).to be < 2
  end
end
