# frozen_string_literal: true
require "spec_helper"
require "tmpdir"

# rainbows (Debian's package, unchanged) in `use :EventMachine` mode: a master
# and one forked worker whose EventMachine loop accepts on a watched listener,
# calls EM.attach_fd(io.fileno, false) itself and stores its Client in
# EM.instance_variable_get(:@conns). In em_rust mode the processes load em_rust
# (RUBYOPT puts lib/ first and requires em_rust before rainbows requires
# "eventmachine"); the app's responses say which implementation served them.
RSpec.describe "rainbows (use :EventMachine) on the implementation under test", :integration do
  RAINBOWS_BIN = ENV["PATH"].split(":").map { |d| File.join(d, "rainbows") }.find { |f| File.executable?(f) }

  before do
    skip "rainbows is not installed (Debian package rainbows)" unless RAINBOWS_BIN
  end

  CONFIG_RU = <<~'RUBY'
    impl = defined?(EventMachine::EM_RUST_VERSION) ? "em_rust" : "eventmachine"
    real = $LOADED_FEATURES.grep(%r{/vendor_ruby/(eventmachine\.rb|em/|jeventmachine\.rb)|rubyeventmachine}).size
    run lambda { |env|
      body = "#{impl} real_em_files=#{real} worker=#{Process.pid} #{env['PATH_INFO']}"
      [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
    }
  RUBY

  def rainbows_config(dir, port)
    <<~RUBY
      Rainbows! do
        use :EventMachine
        worker_connections 64
      end
      worker_processes 1
      listen "#{IntegrationHelpers::HOST}:#{port}"
      pid "#{dir}/rainbows.pid"
      stderr_path "#{dir}/rainbows.log"
      stdout_path "#{dir}/rainbows.log"
      timeout 30
    RUBY
  end

  def log_of(dir) = File.exist?("#{dir}/rainbows.log") ? File.read("#{dir}/rainbows.log") : ""

  # Waits until the worker's EventMachine loop is up and the port answers.
  def wait_until_serving(child, dir, port, timeout: 20)
    deadline = IntegrationHelpers.now + timeout
    loop do
      if log_of(dir).include?("EventMachine: epoll=")
        begin
          TCPSocket.new(IntegrationHelpers::HOST, port).close
          return
        rescue Errno::ECONNREFUSED
          nil
        end
      end
      _, status = Process.waitpid2(child.pid, Process::WNOHANG)
      raise "rainbows exited (#{status.inspect}):\n#{child.output}\n#{log_of(dir)}" if status
      raise "rainbows did not serve within #{timeout}s:\n#{child.output}\n#{log_of(dir)}" if IntegrationHelpers.now > deadline
      sleep 0.05
    end
  end

  RainbowsRun = Struct.new(:master, :pid, :bodies, :status, :log)

  # One rainbows run (it takes seconds) for the examples below; the first of them
  # to run starts it: 8 clients at once, 5 keep-alive requests each, then QUIT.
  def self.run_once(example) = (@run ||= example.serve_and_quit)

  def serve_and_quit
    Dir.mktmpdir("em_rust-rainbows") do |dir|
      File.write("#{dir}/config.ru", CONFIG_RU)
      rubyopt = em_rust? ? "-I#{CoreHelpers::LIB_DIR} -rem_rust" : "-reventmachine"
      port = closed_port
      File.write("#{dir}/rainbows.conf", rainbows_config(dir, port))
      child = CoreHelpers::Child.new([RbConfig.ruby, RAINBOWS_BIN, "-c", "#{dir}/rainbows.conf", "#{dir}/config.ru"],
                                     env: child_env.merge("RUBYOPT" => rubyopt))
      wait_until_serving(child, dir, port)
      master = Integer(File.read("#{dir}/rainbows.pid"))
      bodies = Queue.new
      threads = Array.new(8) do |c|
        Thread.new do
          net_http(port).start do |http|
            5.times { |r| bodies << [c, r, http.get("/c#{c}/r#{r}").body] }
          end
        end
      end
      threads.each { |t| t.join(20) or raise "a client hung:\n#{log_of(dir)}" }
      got = Array.new(40) { bodies.pop(true) }
      Process.kill(:QUIT, master)
      status = child.finish(timeout: 15)
      RainbowsRun.new(master, child.pid, got, status, log_of(dir))
    ensure
      child&.kill! if child && !child.status
    end
  end

  it "serves concurrent keep-alive requests from one forked EventMachine worker that never dies, and stops on QUIT", timeout: 45 do
    run = self.class.run_once(self)
    expect(run.master).to eq(run.pid)
    # The app names the implementation that serves it (EM_IMPL's spelling).
    run.bodies.each do |c, r, body|
      expect(body).to match(%r{\A#{EM_IMPL} real_em_files=\d+ worker=\d+ /c#{c}/r#{r}\z})
    end
    workers = run.bodies.map { |_, _, body| body[/worker=(\d+)/, 1] }.uniq
    expect(workers.size).to eq(1)
    expect(Integer(workers.first)).not_to eq(run.master) # served by the forked worker

    log = run.log
    expect(run.status.exitstatus).to eq(0), log
    expect(log).not_to match(/NoMethodError|Error:|exception/i)
    expect(log.scan(/worker=0 spawned/).size).to eq(1), "the worker was respawned:\n#{log}"
    expect(log).to match(/reaped #<Process::Status: pid #{workers.first} exit 0> worker=0/)
    expect(log).to include("master complete")
    expect(log.scan(%r{"GET /c\d/r\d HTTP/1.1" 200}).size).to eq(40)
  end

  it "the worker runs on the implementation under test: no file of the real eventmachine on em_rust, its files on EM",
     timeout: 45 do
    run = self.class.run_once(self)
    counts = run.bodies.map { |_, _, body| body[/real_em_files=(\d+)/, 1].to_i }
    em_rust? ? expect(counts.uniq).to(eq([0])) : expect(counts).to(all(be_positive))
  end
end
