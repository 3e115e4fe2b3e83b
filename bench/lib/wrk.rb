# frozen_string_literal: true
# wrk (apt-get install -y wrk) run from inside EM.run against a server of this
# process, for the benchmarks that load thin: no second Ruby thread in the server
# process, a 0.1 s timer notices wrk's exit and stops the reactor. Loaded after
# bench/lib/loader.rb and net.rb.
require "tempfile"

module Bench
  WRK = ENV.fetch("BENCH_WRK", "wrk")

  module_function

  def wrk_available!
    abort "bench: #{WRK} not found (apt-get install -y wrk)" unless system("#{WRK} --version >/dev/null 2>&1") || $?.exitstatus == 1
  end

  # Inside EM.run: starts `wrk args... url`, and at its exit yields its parsed
  # result (see parse_wrk) and the CPU this process spent meanwhile, then stops EM.
  def run_wrk(url, *args)
    out = Tempfile.new("bench-wrk")
    cpu0 = cpu
    pid = Process.spawn(WRK, *args, url, out: out.path, err: %i[child out])
    EM.add_periodic_timer(0.1) do
      _, status = Process.waitpid2(pid, Process::WNOHANG)
      next unless status

      spent = cpu_spent(cpu0, cpu)
      text = File.read(out.path)
      out.close!
      raise "wrk failed (#{status.inspect}):\n#{text}" unless status.success?

      yield parse_wrk(text), spent
      EM.stop
    end
  end

  # Requests/s, requests, p50/p99 (ms, with --latency), socket errors; raises on
  # non-2xx answers or no request done.
  def parse_wrk(text)
    rps = text[/^Requests\/sec:\s+([\d.]+)/, 1] or raise "no Requests/sec in wrk output:\n#{text}"
    requests = text[/(\d+) requests in/, 1].to_i
    non2xx = text[/Non-2xx or 3xx responses:\s+(\d+)/, 1].to_i
    raise "wrk got #{non2xx} non-2xx responses:\n#{text}" if non2xx.positive?
    raise "wrk completed no requests:\n#{text}" if requests.zero?

    { req_per_s: Float(rps), requests: requests, socket_errors: text[/Socket errors:(.*)$/, 1]&.strip,
      p50_ms: text[/^\s+50%\s+(\S+)/, 1]&.then { |t| wrk_ms(t) }, p99_ms: text[/^\s+99%\s+(\S+)/, 1]&.then { |t| wrk_ms(t) } }
  end

  # "1.23ms" / "456.00us" / "1.02s" -> milliseconds
  def wrk_ms(text)
    v, unit = text.match(/\A([\d.]+)(us|ms|s|m)\z/)&.captures || raise("bad wrk time #{text.inspect}")
    Float(v) * { "us" => 0.001, "ms" => 1.0, "s" => 1000.0, "m" => 60_000.0 }.fetch(unit)
  end
end
