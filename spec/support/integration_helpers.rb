# frozen_string_literal: true
# Helpers for spec/integration: real gems (as Debian packages them) running
# unchanged on the implementation under test. Everything binds 127.0.0.1, and
# every wait has a deadline, so a broken reactor fails its example instead of
# hanging the suite.
#
# Loading: the gems `require 'eventmachine'`. In em_rust mode lib/ is first on
# $LOAD_PATH, so that lands on lib/eventmachine.rb. RubyGems activates the Debian
# `eventmachine` gemspec when thin or em-http-request is activated, but that only
# adds /usr/share/rubygems-integration/3.1.0/gems/eventmachine-*/lib — a directory
# Debian does not create (its files live in vendor_ruby) — and it inserts gem
# paths after lib/. A real EM file can still be reached through vendor_ruby when
# em_rust lacks a file of that name (em-http-request requires em/io_streamer and em/streamer), so
# `use_gems` checks every em/* feature a gem requires before loading it, and
# refuses to load a gem that would pull in the real eventmachine.
require "socket"
require "net/http"
require "json"
require "rbconfig"
require "digest"

module IntegrationHelpers
  HOST = "127.0.0.1"

  # The gems, the Debian package each comes in, the files they require, and the
  # em/* features those files require (which must be em_rust's own in em_rust mode).
  GEMS = {
    thin:          { package: "thin",                 features: %w[thin],             em_features: [] },
    em_http:       { package: "ruby-em-http-request", features: %w[em-http],          em_features: %w[em/io_streamer em/streamer] },
    em_websocket:  { package: "ruby-em-websocket",    features: %w[em-websocket],     em_features: [] },
    faye:          { package: "ruby-faye-websocket",  features: %w[faye/websocket],   em_features: [] },
    em_synchrony:  { package: "ruby-em-synchrony",    features: %w[em-synchrony],     em_features: %w[em/iterator] },
    em_redis:      { package: "ruby-em-redis",        features: %w[em-redis],         em_features: [] }
  }.freeze

  PROXY_VARS = %w[http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY].freeze

  @gem_state = {}

  class << self
    attr_reader :gem_state

    # Is the Debian package that provides `name` installed? (Its gemspec is
    # registered with RubyGems, or its files are on the load path.)
    def gem_installed?(name)
      GEMS.fetch(name)[:features].all? do |f|
        !$LOAD_PATH.resolve_feature_path(f).nil? || !Gem::Specification.find_by_path(f).nil?
      rescue LoadError
        !Gem::Specification.find_by_path(f).nil?
      end
    end

    # Loads the gem once per process. Returns :ok or :missing; raises (every
    # time it is asked again) when loading failed or would load the real EM.
    def load_gem(name)
      state = @gem_state[name]
      raise state if state.is_a?(Exception)
      return state if state

      @gem_state[name] = begin
        spec = GEMS.fetch(name)
        if !gem_installed?(name)
          :missing
        else
          check_em_features!(name, spec[:em_features]) if ImplCheck.em_rust?
          before = $LOADED_FEATURES.dup
          spec[:features].each { |f| require f }
          real = ($LOADED_FEATURES - before).grep(REAL_EM_FILES)
          if ImplCheck.em_rust? && !real.empty?
            raise "loading #{name} pulled in the real eventmachine: #{real.join(', ')}"
          end
          :ok
        end
      rescue Exception => e # rubocop:disable Lint/RescueException -- remembered and re-raised
        e
      end
      load_gem(name)
    end

    # In em_rust mode, each em/* feature the gem requires must resolve to
    # em_rust's lib/ (or to a file the gem ships itself), never to vendor_ruby.
    def check_em_features!(name, features)
      features.each do |f|
        next if $LOADED_FEATURES.any? { |p| p.end_with?("/#{f}.rb") && !p.match?(REAL_EM_FILES) }
        path = $LOAD_PATH.resolve_feature_path(f)&.last
        gem_own = Gem::Specification.find_by_path(f)&.then { |s| s.name != "eventmachine" }
        next if path && !path.match?(REAL_EM_FILES)
        next if gem_own
        raise LoadError, "#{name} requires #{f.inspect}, which em_rust does not provide " \
                         "(it would load the real gem's #{path || 'file'}): add lib/#{f}.rb"
      end
    end

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def now = IntegrationHelpers.now

  # Call in before(:context): loads the gems (once per process) and skips the
  # group when a Debian package is not installed. A gem that fails to load fails
  # every example of the group, with the cause.
  def use_gems(*names)
    missing = names.reject { |n| IntegrationHelpers.load_gem(n) == :ok }
    return if missing.empty?
    pkgs = missing.map { |n| IntegrationHelpers::GEMS.fetch(n)[:package] }
    skip("Debian package(s) not installed: #{pkgs.join(' ')} (apt-get install -y #{pkgs.join(' ')})")
  end

  # ---- reactors (run_em, the watchdog run, is in core_helpers.rb) -----------

  # Runs the reactor on this thread. The block runs inside it (start servers
  # there) and returns a callable, which then runs on its own Ruby thread, where
  # blocking I/O is fine (Net::HTTP, raw sockets). The reactor stops when that
  # thread ends; its value is returned and its exception re-raised. Nothing is
  # scheduled onto the reactor from the client thread: the reactor polls it.
  def reactor_with_client(timeout: 8)
    thread = nil
    value = error = nil
    fired = false
    EM.run do
      client = yield
      started = now
      thread = Thread.new do
        Thread.current.report_on_exception = false
        value = client.call
      rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
        error = e
      end
      EM.add_periodic_timer(0.01) do
        if !thread.alive?
          EM.stop
        elsif now - started > timeout
          fired = true
          EM.stop
        end
      end
    end
    raise error if error
    raise "watchdog: the client thread did not finish within #{timeout}s" if fired
    value
  ensure
    if thread&.alive?
      thread.kill
      thread.join(2)
    end
  end

  # The reactor on a background thread, as faye-websocket (and apps under
  # threaded servers) run it. `on_reactor { ... }` runs a block there and returns
  # its value. The reactor is stopped and its thread joined at the end.
  class BackgroundReactor
    def initialize(thread) = @thread = thread

    attr_reader :thread

    def on_reactor(timeout: 5, &blk)
      q = Queue.new
      EM.schedule do
        q << [:ok, blk.call]
      rescue Exception => e # rubocop:disable Lint/RescueException -- handed to the caller
        q << [:error, e]
      end
      kind, v = IntegrationHelpers.pop(q, timeout: timeout, what: "a block scheduled on the reactor")
      raise v if kind == :error
      v
    end
  end

  # Starts `EM.run` on a new thread (unless `started_by` gives a block that
  # starts it some other way, e.g. faye's ensure_reactor_running), yields a
  # BackgroundReactor, then stops the reactor and joins its thread.
  def with_background_reactor(timeout: 5, started_by: nil)
    raise "a reactor is already running" if EM.reactor_running?
    errors = Queue.new
    if started_by
      started_by.call
    else
      Thread.new do
        Thread.current.report_on_exception = false
        EM.run
      rescue Exception => e # rubocop:disable Lint/RescueException -- reported after the join
        errors << e
      end
    end
    deadline = now + timeout
    sleep 0.005 until EM.reactor_running? || now > deadline
    raise "the background reactor did not start within #{timeout}s" unless EM.reactor_running?
    reactor_thread = EM.reactor_thread
    result = yield BackgroundReactor.new(reactor_thread)
    stop_background_reactor(reactor_thread, timeout)
    raise errors.pop unless errors.empty?
    result
  rescue Exception # rubocop:disable Lint/RescueException -- cleanup, then re-raised
    stop_background_reactor(reactor_thread, timeout) if reactor_thread
    raise
  end

  def stop_background_reactor(thread, timeout)
    return unless thread.alive?
    EM.schedule { EM.stop } if EM.reactor_running?
    return if thread.join(timeout)
    thread.kill
    raise "the background reactor did not stop within #{timeout}s"
  end

  # Queue#pop with a deadline (Ruby 3.1 has no timeout: keyword).
  def self.pop(queue, timeout:, what: "a value")
    deadline = now + timeout
    loop do
      return queue.pop(true)
    rescue ThreadError
      raise "no #{what} within #{timeout}s" if now > deadline
      sleep 0.005
    end
  end

  def pop(queue, timeout: 5, what: "a value") = IntegrationHelpers.pop(queue, timeout: timeout, what: what)

  # ---- HTTP -----------------------------------------------------------------

  # Net::HTTP to 127.0.0.1 with no proxy and bounded waits.
  def net_http(port, read_timeout: 5)
    http = Net::HTTP.new(HOST, port, nil)
    http.open_timeout = 3
    http.read_timeout = read_timeout
    http.write_timeout = 5 if http.respond_to?(:write_timeout=)
    http
  end

  # Writes a raw HTTP/1.1 request to `sock` and reads one response; returns
  # [status, headers (lower-case keys), body]. Bodies need Content-Length
  # unless the server closes the connection.
  def raw_http(sock, method, path, headers: {}, body: nil, timeout: 5)
    hdrs = { "Host" => "localhost" }.merge(headers)
    hdrs["Content-Length"] = body.bytesize.to_s if body
    sock.write("#{method} #{path} HTTP/1.1\r\n" + hdrs.map { |k, v| "#{k}: #{v}\r\n" }.join + "\r\n" + body.to_s)
    read_http_response(sock, timeout: timeout)
  end

  def read_http_response(sock, timeout: 5)
    deadline = now + timeout
    buf = +"".b
    read_more = lambda do
      left = deadline - now
      raise "HTTP response not complete within #{timeout}s; got #{buf.inspect[0, 300]}" if left <= 0
      ready = IO.select([sock], nil, nil, left)
      raise "HTTP response not complete within #{timeout}s; got #{buf.inspect[0, 300]}" unless ready
      chunk = sock.read_nonblock(65_536, exception: false)
      return false if chunk.nil?
      buf << chunk unless chunk == :wait_readable
      true
    end
    read_more.call or raise("connection closed before a response") until buf.include?("\r\n\r\n")
    head, rest = buf.split("\r\n\r\n", 2)
    status_line, *lines = head.split("\r\n")
    status = status_line[/\AHTTP\/1\.[01] (\d{3})/, 1]&.to_i or raise "bad status line #{status_line.inspect}"
    headers = lines.to_h { |l| k, v = l.split(":", 2); [k.downcase, v.to_s.strip] }
    body = rest
    if (len = headers["content-length"])
      while body.bytesize < len.to_i
        read_more.call or raise("connection closed after #{body.bytesize} of #{len} body bytes")
        body = buf.split("\r\n\r\n", 2)[1]
      end
      body = body.byteslice(0, len.to_i)
    else
      nil while read_more.call
      body = buf.split("\r\n\r\n", 2)[1]
    end
    [status, headers, body]
  end

  # Waits until the peer closes `sock`; returns the seconds that took.
  def wait_for_eof(sock, timeout:)
    t0 = now
    loop do
      left = timeout - (now - t0)
      raise "connection still open after #{timeout}s" if left <= 0
      next unless IO.select([sock], nil, nil, left)
      begin
        chunk = sock.read_nonblock(65_536, exception: false)
      rescue Errno::ECONNRESET
        return now - t0
      end
      return now - t0 if chunk.nil?
    end
  end

  # ---- WebSocket by hand (RFC 6455) ------------------------------------------

  # Sends a client handshake for `path` on `sock` and reads the response head;
  # returns [the Sec-WebSocket-Key sent, the response head].
  def ws_handshake(sock, path, headers = {}, timeout: 5)
    key = [Random.new.bytes(16)].pack("m0")
    host = sock.respond_to?(:remote_address) && sock.remote_address.ip? ? "#{HOST}:#{sock.remote_address.ip_port}" : "localhost"
    sock.write("GET #{path} HTTP/1.1\r\nHost: #{host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
               "Sec-WebSocket-Key: #{key}\r\nSec-WebSocket-Version: 13\r\n" +
               headers.map { |k, v| "#{k}: #{v}\r\n" }.join + "\r\n")
    head = +"".b
    deadline = now + timeout
    head << read_exactly(sock, 1, deadline) until head.end_with?("\r\n\r\n") # byte by byte: frames may follow
    [key, head]
  end

  # The Sec-WebSocket-Accept a server must answer to `key`.
  def ws_accept_for(key) = [Digest::SHA1.digest(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")].pack("m0")

  # A client frame: always masked.
  def client_frame(opcode, payload)
    payload = payload.b
    mask = Random.new.bytes(4)
    head = [0x80 | opcode].pack("C")
    head << if payload.bytesize < 126 then [0x80 | payload.bytesize].pack("C")
            elsif payload.bytesize < 65_536 then [0x80 | 126, payload.bytesize].pack("Cn")
            else [0x80 | 127, payload.bytesize].pack("CQ>")
            end
    masked = payload.bytes.each_with_index.map { |b, i| b ^ mask.getbyte(i % 4) }.pack("C*")
    head + mask + masked
  end

  def read_exactly(sock, n, deadline)
    buf = +"".b
    while buf.bytesize < n
      left = deadline - now
      raise "timed out reading (#{buf.bytesize}/#{n} bytes)" if left <= 0 || !IO.select([sock], nil, nil, left)
      chunk = sock.read_nonblock(n - buf.bytesize, exception: false)
      raise EOFError, "connection closed after #{buf.bytesize}/#{n} bytes" if chunk.nil?
      buf << chunk unless chunk == :wait_readable
    end
    buf
  end

  # Reads one server frame (never masked); returns [opcode, payload].
  def read_frame(sock, timeout: 5)
    deadline = now + timeout
    b0, b1 = read_exactly(sock, 2, deadline).unpack("CC")
    raise "server frame is masked" if b1 & 0x80 != 0
    len = b1 & 0x7f
    len = read_exactly(sock, 2, deadline).unpack1("n") if len == 126
    len = read_exactly(sock, 8, deadline).unpack1("Q>") if len == 127
    [b0 & 0x0f, read_exactly(sock, len, deadline)]
  end

  # ---- thin -----------------------------------------------------------------

  # Starts thin inside the running reactor, as `Thin::Server#start` does when
  # EM is already running (no signal traps: this is the RSpec process). Port 0
  # picks a free port; thin reads it back with EM.get_sockname.
  def start_thin(app, host: HOST, port: 0, **options)
    Thin::Logging.silent = true
    server = host.include?("/") ? Thin::Server.new(host, app, { signals: false }.merge(options)) : Thin::Server.new(host, port, app, { signals: false }.merge(options))
    server.start
    server
  end

  # A Rack response with Content-Length (thin keeps a connection alive only then).
  def rack_text(body, status: 200, headers: {})
    [status, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }.merge(headers), [body]]
  end

  # ---- child processes ------------------------------------------------------

  # Runs `code` in a fresh ruby that has loaded the implementation under test
  # (for gems that monkey-patch globally, like em-synchrony, or processes that
  # own signals and fd limits, like `thin start`). The child prints results
  # with `report(hash)`; returns the list of reported hashes. Fails if the child
  # fails, or (em_rust) if it loaded a file of the real eventmachine.
  def run_child(code, timeout: 12, env: {})
    prelude = <<~RUBY
      $stdout.sync = true
      require "json"
      def report(h) = puts("REPORT " + JSON.generate(h))
      at_exit { puts "REAL_EM_FILES " + JSON.generate($LOADED_FEATURES.grep(#{REAL_EM_FILES.inspect})) }
    RUBY
    r = run_ruby(prelude + code, timeout: timeout, env: child_env.merge(env))
    expect(r.success?).to be(true), "child failed (#{r.status.inspect}):\n#{r.output}"
    real = JSON.parse(r.output[/^REAL_EM_FILES (.*)$/, 1] || raise("child printed no REAL_EM_FILES line:\n#{r.output}"))
    expect(real).to eq([]), "the child loaded the real eventmachine:\n#{r.output}" if em_rust?
    r.output.scan(/^REPORT (.*)$/).map { |(j)| JSON.parse(j) }
  end

  # Environment for child processes: no proxies.
  def child_env = PROXY_VARS.to_h { |v| [v, nil] }
end

RSpec.configure do |config|
  config.include IntegrationHelpers, :integration

  # em-http-request and Net::HTTP honour *_proxy variables: loopback only here.
  config.around(:each, :integration) do |example|
    saved = IntegrationHelpers::PROXY_VARS.to_h { |v| [v, ENV.delete(v)] }
    begin
      example.run
    ensure
      saved.each { |k, v| ENV[k] = v if v }
    end
  end
end
