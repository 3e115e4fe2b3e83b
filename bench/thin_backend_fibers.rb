# frozen_string_literal: true
# thin serving a Rack app that calls a 50 ms backend with Net::HTTP (the blocking
# call real applications make), loaded by wrk with 100 connections for WRK_SECONDS.
# On the real eventmachine each request holds the loop for the backend's 50 ms
# (about 1/0.05 = 20 requests/s); on em_rust EM.callbacks_in_fibers is on, so each
# request's Net::HTTP suspends its fiber and the loop serves the others (issue 11's
# target: >= 50x). The backend (bench/lib/slow_backend.rb) is its own process on
# em_rust in both runs. 10 s, not 5: EventMachine writes the responses of one pass
# over the readable connections only after the whole pass (100 x 50 ms = 5 s), so a
# 5 s window would count almost none of them.
require_relative "lib/loader"
require_relative "lib/net"
require "net/http"
require_relative "lib/wrk"

WRK_SECONDS = Bench.size(10, 3)
WRK_CONNS = 100

before = $LOADED_FEATURES.dup
require "thin"
real = ($LOADED_FEATURES - before).grep(Bench::REAL_EM_FILES)
abort "bench: `require 'thin'` loaded the real eventmachine: #{real.join(', ')}" if Bench::IMPL == "em_rust" && !real.empty?
Bench.wrk_available!

backend_out, backend_in = IO.pipe
backend = Process.spawn(RbConfig.ruby, File.join(__dir__, "lib", "slow_backend.rb"), out: backend_in)
backend_in.close
Bench.on_abort { Process.kill(:TERM, backend) }
backend_port = Integer(backend_out.gets || Bench.abort!(5))
BACKEND = URI("http://127.0.0.1:#{backend_port}/")
APP = lambda do |_env|
  body = Net::HTTP.get(BACKEND)
  [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
end

result = cpu_spent = nil
EM.callbacks_in_fibers = true if Bench::IMPL == "em_rust"
begin
  EM.epoll
  EM.run do
    Bench.em_deadline(Bench::TIMEOUT * 0.8, "thin + backend + wrk")
    Thin::Logging.silent = true
    server = Thin::Server.new(Bench::HOST, 0, APP, signals: false)
    server.start
    Bench.run_wrk("http://#{Bench::HOST}:#{server.port}/", "-t1", "-c#{WRK_CONNS}", "-d#{WRK_SECONDS}s",
                  "--timeout", "10s") { |r, cpu| result, cpu_spent = r, cpu }
  end
ensure
  Process.kill(:TERM, backend)
  Process.wait(backend)
end

Bench.report({ req_per_s: { value: result[:req_per_s], unit: "req/s", better: "higher", label: "requests (50 ms backend)" } },
             { seconds: WRK_SECONDS, connections: WRK_CONNS, requests: result[:requests],
               callbacks_in_fibers: Bench::IMPL == "em_rust", socket_errors: result[:socket_errors], **cpu_spent })
