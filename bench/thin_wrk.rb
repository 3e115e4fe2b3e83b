# frozen_string_literal: true
# thin (Debian's package, unchanged) serving a trivial Rack app on 127.0.0.1 in
# this process, on the implementation under test; wrk (apt-get install -y wrk)
# loads it from a separate process for WRK_SECONDS with 50 keep-alive
# connections on one wrk thread (the machine may have only 2 cores). Requests/s and
# p99 latency as wrk reports them.
# In em_rust mode bench/lib/loader.rb has put this repo's lib/ first on the load
# path and loaded em_rust, so thin's `require 'eventmachine'` lands on
# lib/eventmachine.rb; that no file of the real gem was loaded is checked below.
require_relative "lib/loader"
require_relative "lib/net"
require "tempfile"

WRK_SECONDS = Bench.size(5, 1)
WRK_CONNS = 50
WRK_THREADS = 1
WRK = ENV.fetch("BENCH_WRK", "wrk")

before = $LOADED_FEATURES.dup
require "thin"
real = ($LOADED_FEATURES - before).grep(Bench::REAL_EM_FILES)
abort "bench: `require 'thin'` loaded the real eventmachine: #{real.join(', ')}" if Bench::IMPL == "em_rust" && !real.empty?
abort "bench: #{WRK} not found (apt-get install -y wrk)" unless system("#{WRK} --version >/dev/null 2>&1") || $?.exitstatus == 1

BODY = "Hello, world!\n"
APP = ->(_env) { [200, { "Content-Type" => "text/plain", "Content-Length" => BODY.bytesize.to_s }, [BODY]] }

# "1.23ms" / "456.00us" / "1.02s" -> milliseconds
def wrk_ms(text)
  v, unit = text.match(/\A([\d.]+)(us|ms|s|m)\z/)&.captures || raise("bad wrk time #{text.inspect}")
  Float(v) * { "us" => 0.001, "ms" => 1.0, "s" => 1000.0, "m" => 60_000.0 }.fetch(unit)
end

wrk_out = Tempfile.new("bench-wrk")
wrk_status = nil
cpu_spent = {}
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "thin + wrk")
  Thin::Logging.silent = true
  server = Thin::Server.new(Bench::HOST, 0, APP, signals: false)
  server.start
  url = "http://#{Bench::HOST}:#{server.port}/"
  cmd = [WRK, "-t#{WRK_THREADS}", "-c#{WRK_CONNS}", "-d#{WRK_SECONDS}s", "--latency", url]
  # No second Ruby thread in the server process: a 0.1 s timer notices wrk's exit.
  cpu0 = Bench.cpu
  pid = Process.spawn(*cmd, out: wrk_out.path, err: %i[child out])
  EM.add_periodic_timer(0.1) do
    _, wrk_status = Process.waitpid2(pid, Process::WNOHANG)
    if wrk_status
      cpu_spent = Bench.cpu_spent(cpu0, Bench.cpu)
      EM.stop
    end
  end
end
out = File.read(wrk_out.path)
wrk_out.close!
raise "wrk failed (#{wrk_status.inspect}):\n#{out}" unless wrk_status&.success?

rps = out[/^Requests\/sec:\s+([\d.]+)/, 1] or raise "no Requests/sec in wrk output:\n#{out}"
p99 = out[/^\s+99%\s+(\S+)/, 1] or raise "no 99% latency in wrk output:\n#{out}"
p50 = out[/^\s+50%\s+(\S+)/, 1]
requests = out[/(\d+) requests in/, 1].to_i
non2xx = out[/Non-2xx or 3xx responses:\s+(\d+)/, 1].to_i
errors = out[/Socket errors:(.*)$/, 1]&.strip
raise "wrk got #{non2xx} non-2xx responses:\n#{out}" if non2xx.positive?
raise "wrk completed no requests:\n#{out}" if requests.zero?

Bench.report({ req_per_s: { value: Float(rps), unit: "req/s", better: "higher", label: "requests" },
               p99_ms: { value: wrk_ms(p99), unit: "ms", better: "lower", label: "latency p99" } },
             { seconds: WRK_SECONDS, connections: WRK_CONNS, wrk_threads: WRK_THREADS, requests: requests,
               p50_ms: p50 && wrk_ms(p50), socket_errors: errors, thin: Thin::VERSION::STRING, **cpu_spent })
