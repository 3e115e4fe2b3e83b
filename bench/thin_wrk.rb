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
require_relative "lib/wrk"

WRK_SECONDS = Bench.size(5, 1)
WRK_CONNS = 50
WRK_THREADS = 1

before = $LOADED_FEATURES.dup
require "thin"
real = ($LOADED_FEATURES - before).grep(Bench::REAL_EM_FILES)
abort "bench: `require 'thin'` loaded the real eventmachine: #{real.join(', ')}" if Bench::IMPL == "em_rust" && !real.empty?
Bench.wrk_available!

BODY = "Hello, world!\n"
APP = ->(_env) { [200, { "Content-Type" => "text/plain", "Content-Length" => BODY.bytesize.to_s }, [BODY]] }

result = cpu_spent = nil
EM.epoll
EM.run do
  Bench.em_deadline(Bench::TIMEOUT * 0.8, "thin + wrk")
  Thin::Logging.silent = true
  server = Thin::Server.new(Bench::HOST, 0, APP, signals: false)
  server.start
  Bench.run_wrk("http://#{Bench::HOST}:#{server.port}/", "-t#{WRK_THREADS}", "-c#{WRK_CONNS}", "-d#{WRK_SECONDS}s",
                "--latency") { |r, cpu| result, cpu_spent = r, cpu }
end
raise "no p99 latency in wrk's output" unless result[:p99_ms]

Bench.report({ req_per_s: { value: result[:req_per_s], unit: "req/s", better: "higher", label: "requests" },
               p99_ms: { value: result[:p99_ms], unit: "ms", better: "lower", label: "latency p99" } },
             { seconds: WRK_SECONDS, connections: WRK_CONNS, wrk_threads: WRK_THREADS, requests: result[:requests],
               p50_ms: result[:p50_ms], socket_errors: result[:socket_errors], thin: Thin::VERSION::STRING, **cpu_spent })
