# frozen_string_literal: true
require "spec_helper"
require "digest"
require "tmpdir"

# thin (Debian package `thin`) serving Rack apps on the implementation under
# test, unchanged. Clients are plain blocking Ruby (Net::HTTP, raw sockets) on
# their own threads; the reactor runs on the example's thread.
RSpec.describe "thin", :integration do
  before(:context) { use_gems(:thin) }

  # Remembers which thin connection served each request (thin's async.callback
  # is a Method bound to its Thin::Connection).
  def conn_id(env) = env["async.callback"].receiver.object_id

  describe "over TCP" do
    it "serves many requests on new connections, from several client threads at once" do
      served = Queue.new
      app = lambda do |env|
        served << conn_id(env)
        rack_text("#{env['REQUEST_METHOD']} #{env['PATH_INFO']}?#{env['QUERY_STRING']} from #{env['REMOTE_ADDR']}")
      end
      results = reactor_with_client(timeout: 9) do
        port = start_thin(app).port
        lambda do
          Array.new(4) do |t|
            Thread.new do
              Array.new(25) do |i|
                res = net_http(port).start { |h| h.get("/t#{t}?i=#{i}", "Connection" => "close") }
                [res.code, res.body, res["Connection"]]
              end
            end
          end.flat_map { |th| th.join(8) ? th.value : raise("client thread #{th} hung") }
        end
      end
      expect(results.size).to eq(100)
      expect(results.map(&:first).uniq).to eq(["200"])
      expected = Array.new(4) { |t| Array.new(25) { |i| "GET /t#{t}?i=#{i} from 127.0.0.1" } }.flatten
      expect(results.map { |r| r[1] }).to eq(expected)
      expect(results.map(&:last).uniq).to eq(["close"])
      ids = Array.new(served.size) { served.pop }
      expect(ids.uniq.size).to eq(100)
    end

    it "keeps a connection alive across 100 requests (HTTP/1.1 keep-alive)" do
      served = Queue.new
      app = ->(env) { served << conn_id(env); rack_text("n=#{env['QUERY_STRING']}") }
      results = reactor_with_client do
        port = start_thin(app).port
        lambda do
          net_http(port).start do |h|
            Array.new(100) do |i|
              res = h.get("/ka?#{i}")
              [res.code, res.body, res["Connection"]]
            end
          end
        end
      end
      expect(results).to eq(Array.new(100) { |i| ["200", "n=#{i}", "keep-alive"] })
      ids = Array.new(served.size) { served.pop }
      expect(ids.size).to eq(100)
      expect(ids.uniq.size).to eq(1)
    end

    it "takes a 1 MiB POST body and sends a 4 MiB response intact" do
      upload = Random.new(42).bytes(1 << 20)
      big = Random.new(7).bytes(4 << 20)
      app = lambda do |env|
        if env["REQUEST_METHOD"] == "POST"
          body = env["rack.input"].read
          rack_text("#{body.bytesize} #{Digest::SHA256.hexdigest(body)}")
        else
          [200, { "Content-Type" => "application/octet-stream", "Content-Length" => big.bytesize.to_s }, [big]]
        end
      end
      posted, got = reactor_with_client do
        port = start_thin(app).port
        lambda do
          net_http(port).start do |h|
            post = h.post("/up", upload, "Content-Type" => "application/octet-stream")
            [post.body, h.get("/down").body]
          end
        end
      end
      expect(posted).to eq("#{upload.bytesize} #{Digest::SHA256.hexdigest(upload)}")
      expect(got.bytesize).to eq(big.bytesize)
      expect(Digest::SHA256.hexdigest(got)).to eq(Digest::SHA256.hexdigest(big))
    end

    it "answers asynchronously through async.callback from a timer" do
      app = lambda do |env|
        EM.add_timer(0.05) { env["async.callback"].call(rack_text("late #{env['PATH_INFO']}")) }
        [-1, {}, []]
      end
      bodies = reactor_with_client do
        port = start_thin(app).port
        -> { net_http(port).start { |h| Array.new(5) { |i| h.get("/a#{i}").body } } }
      end
      expect(bodies).to eq(Array.new(5) { |i| "late /a#{i}" })
    end

    it "streams a deferrable body chunk by chunk, then closes the connection when it succeeds" do
      body_class = Class.new do
        include EM::Deferrable
        def each(&blk) = @send = blk
        def push(s) = @send.call(s)
      end
      app = lambda do |env|
        body = body_class.new
        EM.next_tick do
          env["async.callback"].call([200, { "Content-Type" => "text/plain" }, body])
          n = 0
          timer = EM.add_periodic_timer(0.01) do
            body.push("chunk#{n};")
            n += 1
            if n == 10
              timer.cancel
              body.succeed
            end
          end
        end
        [-1, {}, []]
      end
      status, headers, body = reactor_with_client do
        port = start_thin(app).port
        lambda do
          sock = TCPSocket.new(IntegrationHelpers::HOST, port)
          begin
            raw_http(sock, "GET", "/stream")
          ensure
            sock.close
          end
        end
      end
      expect(status).to eq(200)
      expect(headers["connection"]).to eq("close")
      expect(body).to eq(Array.new(10) { |n| "chunk#{n};" }.join)
    end

    it "runs the app on EM.defer's thread pool in threaded mode, several requests at once" do
      in_flight = 0
      max_seen = 0
      lock = Mutex.new
      app = lambda do |_env|
        on_reactor = EM.reactor_thread?
        lock.synchronize { in_flight += 1; max_seen = [max_seen, in_flight].max }
        deadline = IntegrationHelpers.now + 3 # until all 4 are in the app at once
        sleep 0.005 until lock.synchronize { max_seen >= 4 } || IntegrationHelpers.now > deadline
        lock.synchronize { in_flight -= 1 }
        rack_text("reactor_thread=#{on_reactor}")
      end
      bodies = reactor_with_client do
        server = start_thin(app)
        server.threaded = true
        port = server.port
        -> { Array.new(4) { Thread.new { net_http(port).start { |h| h.get("/").body } } }.map { |t| t.join(8)&.value } }
      end
      expect(bodies).to eq(["reactor_thread=false"] * 4)
      expect(max_seen).to eq(4)
    end

    it "returns 400 for a malformed request and closes the connection" do
      status, = reactor_with_client do
        port = start_thin(->(_env) { rack_text("never") }).port
        lambda do
          sock = TCPSocket.new(IntegrationHelpers::HOST, port)
          begin
            sock.write("THIS IS NOT HTTP\r\n\r\n")
            r = read_http_response(sock)
            wait_for_eof(sock, timeout: 5)
            r
          ensure
            sock.close
          end
        end
      end
      expect(status).to eq(400)
    end

    it "drops an idle keep-alive connection after the server's inactivity timeout", timeout: 15 do
      elapsed = reactor_with_client(timeout: 12) do
        port = start_thin(->(_env) { rack_text("ok") }, timeout: 1).port
        lambda do
          sock = TCPSocket.new(IntegrationHelpers::HOST, port)
          begin
            status, headers, = raw_http(sock, "GET", "/")
            raise "unexpected #{status} #{headers}" unless status == 200 && headers["connection"] == "keep-alive"
            wait_for_eof(sock, timeout: 8)
          ensure
            sock.close
          end
        end
      end
      # EventMachine checks inactivity on its heartbeat, so a 1 s timeout fires
      # somewhere between 1 s and 1 s + a heartbeat.
      expect(elapsed).to be_between(0.8, 6)
    end

    it "stops gracefully: idle connections are closed and the port stops accepting" do
      result = reactor_with_client do
        server = start_thin(->(_env) { rack_text("ok") })
        port = server.port
        lambda do
          sock = TCPSocket.new(IntegrationHelpers::HOST, port)
          begin
            first = raw_http(sock, "GET", "/")[2]
            EM.schedule { server.stop }
            wait_for_eof(sock, timeout: 5)
            deadline = IntegrationHelpers.now + 5
            refused = begin
              loop do
                TCPSocket.new(IntegrationHelpers::HOST, port).close
                raise "still accepting after stop" if IntegrationHelpers.now > deadline
                sleep 0.02
              end
            rescue Errno::ECONNREFUSED
              true
            end
            [first, refused, server.running?]
          ensure
            sock.close
          end
        end
      end
      expect(result).to eq(["ok", true, false])
    end
  end

  describe "over a Unix socket" do
    it "serves requests, keeps connections alive, and removes the socket file when stopped" do
      Dir.mktmpdir("em_rust-thin") do |dir|
        path = File.join(dir, "thin.sock")
        served = Queue.new
        app = ->(env) { served << conn_id(env); rack_text("unix #{env['PATH_INFO']} #{env['REMOTE_ADDR']}") }
        server = nil
        result = reactor_with_client do
          server = start_thin(app, host: path)
          lambda do
            out = []
            # three connections, four requests on each
            3.times do |c|
              sock = UNIXSocket.new(path)
              begin
                4.times do |i|
                  status, headers, body = raw_http(sock, "GET", "/c#{c}r#{i}")
                  out << [status, headers["connection"], body]
                end
              ensure
                sock.close
              end
            end
            sig = server.backend.instance_variable_get(:@signature)
            existed = File.socket?(path)
            EM.schedule { server.stop }
            deadline = IntegrationHelpers.now + 5
            sleep 0.01 while File.exist?(path) && IntegrationHelpers.now < deadline
            out + [sig.class, existed, File.exist?(path)]
          end
        end
        *responses, sig_class, existed, still_there = result
        expect(responses).to eq(Array.new(3) { |c| Array.new(4) { |i| [200, "keep-alive", "unix /c#{c}r#{i} 127.0.0.1"] } }.flatten(1))
        ids = Array.new(served.size) { served.pop }
        expect(ids.uniq.size).to eq(3)
        expect(sig_class).to eq(Integer) # thin reads it from EventMachine's @acceptors
        expect(existed).to be(true)
        expect(still_there).to be(false)
        expect(server.running?).to be(false)
      end
    end
  end

  describe "as its own process, the way `thin start` runs it" do
    # bin/thin with a config.ru: Thin::Runner and Controller call server.config
    # (EM.epoll, EM.set_descriptor_table_size), start the reactor, and trap INT,
    # which thin handles on a periodic timer.
    ThinRun = Struct.new(:bodies, :output, :status)

    # One thin process (it takes seconds to start) for the examples below; the
    # first of them to run starts it, asks for /r0../r19, then sends SIGINT.
    def self.run_once(example) = (@run ||= example.serve_and_interrupt)

    def serve_and_interrupt
      thin_bin = ENV["PATH"].split(":").map { |d| File.join(d, "thin") }.find { |f| File.executable?(f) } ||
                 Gem.bin_path("thin", "thin")
      Dir.mktmpdir("em_rust-thin") do |dir|
        File.write(File.join(dir, "config.ru"), <<~'RUBY')
          $stdout.sync = true # thin logs "Listening on ..." to a pipe here
          impl = defined?(EventMachine::EM_RUST_VERSION) ? "em_rust" : "eventmachine"
          real = $LOADED_FEATURES.grep(%r{/vendor_ruby/(eventmachine\.rb|em/|jeventmachine\.rb)|rubyeventmachine}).size
          run lambda { |env|
            body = "#{impl} real_em_files=#{real} nofile=#{Process.getrlimit(:NOFILE)[0]} #{env['PATH_INFO']}"
            [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
          }
        RUBY
        rubyopt = em_rust? ? "-I#{CoreHelpers::LIB_DIR} -rem_rust" : "-reventmachine"
        child = nil
        port = nil
        3.times do # the port is picked before thin binds it: retry if someone took it
          port = closed_port
          child = CoreHelpers::Child.new(
            [RbConfig.ruby, thin_bin, "-R", File.join(dir, "config.ru"), "-a", IntegrationHelpers::HOST,
             "-p", port.to_s, "--max-conns", "2048", "--threaded", "--threadpool-size", "5", "start"],
            env: child_env.merge("RUBYOPT" => rubyopt)
          )
          m = child.wait_for(/Listening on|no acceptor|in use|Error/i, timeout: 15)
          break if m[0] =~ /Listening on/i
          child.kill!
        end
        # thin logs "Listening on" just before it calls EM.start_server
        deadline = IntegrationHelpers.now + 10
        begin
          TCPSocket.new(IntegrationHelpers::HOST, port).close
        rescue Errno::ECONNREFUSED
          raise "thin never listened on #{port}:\n#{child.output}" if IntegrationHelpers.now > deadline
          sleep 0.02
          retry
        end
        bodies = Array.new(20) { |i| net_http(port).start { |h| h.get("/r#{i}").body } }
        child.signal(:INT)
        status = child.finish(timeout: 10)
        ThinRun.new(bodies, child.output, status)
      end
    end

    it "serves a config.ru (threaded), sets the fd limit it asks for, and exits 0 on SIGINT", timeout: 30 do
      run = self.class.run_once(self)
      # The app names the implementation that serves it (EM_IMPL's spelling).
      run.bodies.each_with_index do |b, i|
        expect(b).to match(/\A#{EM_IMPL} real_em_files=\d+ nofile=(\d+) \/r#{i}\z/)
      end
      expect(run.bodies.first[/nofile=(\d+)/, 1].to_i).to be >= 2048
      expect(run.output).to include("Maximum connections set to 2048")
      expect(run.status.exitstatus).to eq(0), run.output
    end

    it "the thin process runs on the implementation under test: no file of the real eventmachine on em_rust, its files on EM",
       timeout: 30 do
      run = self.class.run_once(self)
      counts = run.bodies.map { |b| b[/real_em_files=(\d+)/, 1].to_i }
      em_rust? ? expect(counts.uniq).to(eq([0])) : expect(counts).to(all(be_positive))
    end
  end
end
