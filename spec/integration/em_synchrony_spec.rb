# frozen_string_literal: true
require "spec_helper"

# em-synchrony (Debian ruby-em-synchrony), unchanged: fibers over Deferrables,
# EM::Timer, EM.defer, EM.system, EM.connect (its TCPSocket, which needs
# unbind(reason)), and its em-http-request wrappers. em-synchrony patches
# em-http-request (get/post become fiber-blocking) and Kernel#sleep for the
# whole process, so every example runs in a fresh child ruby that has loaded
# the implementation under test.
RSpec.describe "em-synchrony", :integration, timeout: 20 do
  before(:context) { use_gems(:em_synchrony) }

  # Child-side helpers: a monotonic clock, and thin serving a small app
  # inside the running reactor (/hello, /echo, /r/N redirects, /slow).
  def prelude = <<~'RUBY'
    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    def start_thin
      require "thin"
      Thin::Logging.silent = true
      app = lambda do |env|
        body, status, extra = case env["PATH_INFO"]
                              when "/hello" then ["hello #{env['QUERY_STRING']}".strip, 200, {}]
                              when "/echo" then ["#{env['REQUEST_METHOD']} #{env['rack.input'].read}", 200, {}]
                              when %r{\A/r/(\d+)\z} then ["", 302, { "Location" => $1.to_i > 1 ? "/r/#{$1.to_i - 1}" : "/hello" }]
                              else ["nope", 404, {}]
                              end
        [status, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }.merge(extra), [body]]
      end
      server = Thin::Server.new("127.0.0.1", 0, app, signals: false)
      server.start
      "http://127.0.0.1:#{server.port}"
    end
    # Fails the child (exit 1) if the reactor is still running after `secs`.
    def watchdog(secs) = EM.add_timer(secs) { puts "WATCHDOG"; exit!(1) }
  RUBY

  def run_synchrony(code, timeout: 15)
    run_child(prelude + code, timeout: timeout)
  end

  it "suspends a fiber on EM::Synchrony.sleep, sync (success and failure), next_tick and add_timer" do
    (r,) = run_synchrony(<<~'RUBY')
      require "em-synchrony"
      EM.synchrony do
        watchdog(8)
        t0 = now
        EM::Synchrony.sleep(0.1)
        slept = now - t0
        ok = EM::DefaultDeferrable.new
        EM.add_timer(0.02) { ok.succeed(:a, 42) }
        succeeded = EM::Synchrony.sync(ok)
        bad = EM::DefaultDeferrable.new
        EM.next_tick { bad.fail("nope") }
        failed = EM::Synchrony.sync(bad)
        order = []
        f = Fiber.current
        EM::Synchrony.add_timer(0.02) { order << :timer; f.resume }
        EM::Synchrony.next_tick { order << :tick }
        Fiber.yield
        report(slept: slept, succeeded: succeeded.map(&:to_s), failed: failed, order: order,
               in_fiber: Fiber.current != nil)
        EM.stop
      end
    RUBY
    expect(r["slept"]).to be_between(0.09, 2)
    expect(r["succeeded"]).to eq(%w[a 42])
    expect(r["failed"]).to eq("nope")
    expect(r["order"]).to eq(%w[tick timer])
  end

  it "waits for EM.defer work on the thread pool (EM::Synchrony.defer)" do
    (r,) = run_synchrony(<<~'RUBY')
      require "em-synchrony"
      EM.synchrony do
        watchdog(8)
        reactor = Thread.current
        results = Array.new(3) { |i| EM::Synchrony.defer { [Thread.current != reactor, i * 7] } }
        report(results: results)
        EM.stop
      end
    RUBY
    expect(r["results"]).to eq([[true, 0], [true, 7], [true, 14]])
  end

  it "runs a command with EM::Synchrony.system (EM.system / popen)" do
    (r,) = run_synchrony(<<~'RUBY')
      require "em-synchrony"
      EM.synchrony do
        watchdog(8)
        out, status = EM::Synchrony.system("echo", "hello from", "popen")
        out2, status2 = EM::Synchrony.system("sh -c 'echo oops; exit 3'")
        report(out: out, code: status.exitstatus, out2: out2, code2: status2.exitstatus)
        EM.stop
      end
    RUBY
    expect(r).to eq("out" => "hello from popen\n", "code" => 0, "out2" => "oops\n", "code2" => 3)
  end

  it "makes synchronous em-http requests: GET, POST, redirects, and a parallel Multi" do
    (r,) = run_synchrony(<<~'RUBY')
      require "em-synchrony"
      require "em-synchrony/em-http"
      EM.synchrony do
        watchdog(8)
        base = start_thin
        get = EM::HttpRequest.new("#{base}/hello?sync=1").get
        post = EM::HttpRequest.new("#{base}/echo").post(body: "posted")
        redirected = EM::HttpRequest.new("#{base}/r/2").get(redirects: 3)
        multi = EM::Synchrony::Multi.new
        5.times { |i| multi.add(i, EM::HttpRequest.new("#{base}/hello?#{i}").aget) }
        multi.perform
        report(get: [get.response_header.status, get.response],
               post: post.response,
               redirected: [redirected.response_header.status, redirected.redirects, redirected.response],
               multi: multi.responses[:callback].sort.map { |_, h| h.response },
               multi_errors: multi.responses[:errback].size)
        EM.stop
      end
    RUBY
    expect(r["get"]).to eq([200, "hello sync=1"])
    expect(r["post"]).to eq("POST posted")
    expect(r["redirected"]).to eq([200, 2, "hello"])
    expect(r["multi"]).to eq(Array.new(5) { |i| "hello #{i}" })
    expect(r["multi_errors"]).to eq(0)
  end

  it "maps with EM::Synchrony::Iterator and shares connections through a ConnectionPool" do
    (r,) = run_synchrony(<<~'RUBY')
      require "em-synchrony"
      require "em-synchrony/em-http"
      EM.synchrony do
        watchdog(8)
        base = start_thin
        mapped = EM::Synchrony::Iterator.new(1..6, 3).map do |i, iter|
          http = EM::HttpRequest.new("#{base}/hello?#{i}").aget
          http.callback { iter.return(http.response) }
          http.errback { iter.return(:error) }
        end
        pool = EM::Synchrony::ConnectionPool.new(size: 2) { EM::HttpRequest.new(base) }
        fibers_done = []
        4.times do |i|
          Fiber.new do
            res = pool.get(path: "/hello", query: { "p" => i }, keepalive: true)
            fibers_done << res.response
          end.resume
        end
        EM::Synchrony.sleep(0.01) until fibers_done.size == 4
        report(mapped: mapped, pooled: fibers_done.sort, status: pool.pool_status)
        EM.stop
      end
    RUBY
    expect(r["mapped"]).to eq(Array.new(6) { |i| "hello #{i + 1}" })
    expect(r["pooled"]).to eq(Array.new(4) { |i| "hello p=#{i}" })
    expect(r["status"]).to eq("available" => 2, "reserved" => 0, "pending" => 0)
  end

  it "reads and writes through EM::Synchrony::TCPSocket, and raises ECONNREFUSED like TCPSocket" do
    (r,) = run_synchrony(<<~'RUBY')
      require "em-synchrony"
      require "socket"
      module Echo
        def receive_data(d) = send_data(d.upcase)
      end
      EM.synchrony do
        watchdog(8)
        sig = EM.start_server("127.0.0.1", 0, Echo)
        port = Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]
        sock = EM::Synchrony::TCPSocket.new("127.0.0.1", port)
        sock.write("hello ")
        first = sock.read(6)
        sock.write("x" * 100_000)
        big = sock.read(100_000)
        sock.close
        probe = TCPServer.new("127.0.0.1", 0)
        closed_port = probe.addr[1]
        probe.close
        refused = begin
          EM::Synchrony::TCPSocket.new("127.0.0.1", closed_port)
          "connected?!"
        rescue => e
          e.class.name
        end
        report(first: first, big: big == "X" * 100_000, closed: sock.closed?, refused: refused)
        EM.stop
      end
    RUBY
    expect(r).to eq("first" => "HELLO ", "big" => true, "closed" => true, "refused" => "Errno::ECONNREFUSED")
  end
end
