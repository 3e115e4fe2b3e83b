# frozen_string_literal: true
# Benchmark driver: runs every benchmark in bench/ against em_rust and the real
# eventmachine, each run in a fresh child process, interleaved and alternating
# which goes first, then prints medians and ratios (> 1 = em_rust better) and
# writes them as a markdown table.
#
#   ruby bench/run.rb [name-filter ...]
#   BENCH_ROUNDS=5         rounds per benchmark (default 5; 1 with BENCH_QUICK)
#   BENCH_QUICK=1          small sizes, for a quick smoke test
#   BENCH_TIMEOUT=120      seconds before a child is killed and counted as failed
#   BENCH_IMPLS=a,b        the two sides (default em_rust,eventmachine)
#   BENCH_OUT=path         where to write the markdown (default bench/results.md for a
#                          full default run, tmp/bench-results.md otherwise)
#   BENCH_RAW=path         every child's whole result line (with its info: sizes, CPU
#                          user/system seconds...) as JSON lines (default tmp/bench-raw.jsonl)
# The tls_* benchmarks' server key and certificate (RSA 2048) are made here, once per
# run, and reach the children in BENCH_TLS_DIR (see bench/lib/tls_cert.rb).
require "json"
require "rbconfig"
require "etc"
require "time"
require "tempfile"
require "fileutils"
require_relative "targets"

$stdout.sync = true

BENCH_DIR = __dir__
ROOT = File.expand_path("..", __dir__)
BENCHMARKS = %w[next_tick_chain next_tick_burst defer_trivial defer_sleeping
                timers_bulk timer_lateness periodic_timer
                echo_pingpong echo_external stream connections_5000 thin_wrk
                tls_handshakes tls_stream tls_connections
                fibers_sleep fibers_io_wait echo_pingpong_fibers thin_backend_fibers rethinkdb_stream].freeze
RESULT_PREFIX = "BENCH_RESULT "
QUICK = ENV["BENCH_QUICK"] == "1"
ROUNDS = Integer(ENV.fetch("BENCH_ROUNDS", QUICK ? "1" : "5"))
TIMEOUT = Float(ENV.fetch("BENCH_TIMEOUT", "120"))
IMPLS = ENV.fetch("BENCH_IMPLS", "em_rust,eventmachine").split(",").map(&:strip)
unless IMPLS.size == 2 && IMPLS.all? { |i| %w[em_rust eventmachine].include?(i) }
  abort "BENCH_IMPLS must name two of em_rust, eventmachine (got #{ENV['BENCH_IMPLS'].inspect})"
end
SIDES = IMPLS.uniq.size == 2 ? IMPLS : IMPLS.each_with_index.map { |impl, i| "#{impl}##{i + 1}" }
DEFAULT_RUN = ARGV.empty? && !QUICK && IMPLS == %w[em_rust eventmachine]
RAW = ENV["BENCH_RAW"] || File.join(ROOT, "tmp", "bench-raw.jsonl")
OUT = ENV["BENCH_OUT"] || (DEFAULT_RUN ? File.join(BENCH_DIR, "results.md") : File.join(ROOT, "tmp", "bench-results.md"))

selected = BENCHMARKS.select { |b| ARGV.empty? || ARGV.any? { |f| b.include?(f) } }
abort "no benchmark matches #{ARGV.join(' ')} (have: #{BENCHMARKS.join(', ')})" if selected.empty?

# Extra environment for every child.
CHILD_ENV = {}
# The TLS benchmarks' server key and certificate (RSA 2048, made here with Ruby's
# OpenSSL, once per run, in a temporary directory removed at exit): every child of
# both implementations loads the same files.
if selected.any? { |b| b.start_with?("tls_") }
  require_relative "lib/tls_cert"
  CHILD_ENV[BenchTLS::ENV_KEY] = BenchTLS.generate_tmp
end

# Children never inherit `bundle exec`: a bundle that holds this repo's lib/ would
# let em_rust's eventmachine.rb stand in for the real one.
def unbundled(&blk)
  defined?(Bundler) && Bundler.respond_to?(:with_unbundled_env) ? Bundler.with_unbundled_env(&blk) : blk.call
end

# Runs ruby with args under EM_IMPL=impl; kills it after `limit` seconds.
# Returns [Process::Status or nil if killed, stdout, stderr].
def run_ruby(impl, args, limit)
  out = Tempfile.new("bench-out")
  err = Tempfile.new("bench-err")
  env = { "EM_IMPL" => impl, "BENCH_QUICK" => QUICK ? "1" : "0", "BENCH_TIMEOUT" => TIMEOUT.to_s, **CHILD_ENV }
  pid = unbundled { Process.spawn(env, RbConfig.ruby, *args, out: out.path, err: err.path, chdir: ROOT) }
  waiter = Process.detach(pid)
  status = waiter.join(limit) ? waiter.value : nil
  [status, File.read(out.path), File.read(err.path)]
ensure
  if waiter&.alive?
    Process.kill(:KILL, pid) rescue nil
    waiter.join
  end
  out&.close!
  err&.close!
end

# One benchmark run in a fresh child: [result hash, nil] or [nil, why it failed].
# A failed child's whole stderr is kept in tmp/bench-failures/.
def run_child(bench, impl, log_name)
  status, out, err = run_ruby(impl, [File.join(BENCH_DIR, "#{bench}.rb")], TIMEOUT)
  line = out.lines.reverse.find { |l| l.start_with?(RESULT_PREFIX) }
  return [JSON.parse(line.delete_prefix(RESULT_PREFIX)), nil] if status&.success? && line

  log = File.join(ROOT, "tmp", "bench-failures", "#{log_name}.log")
  FileUtils.mkdir_p(File.dirname(log))
  File.write(log, out + err)
  why = if status.nil? then "killed after #{TIMEOUT.round}s"
        elsif status.signaled? then "signal #{status.termsig}"
        else "exit #{status.exitstatus}"
        end
  first = err.lines.find { |l| l.include?("[BUG]") } || err.lines.reverse.find { |l| !l.strip.empty? } || ""
  why += ": #{first.strip[0, 200]}" unless first.strip.empty?
  [nil, "#{why} (stderr in #{log.delete_prefix("#{ROOT}/")})"]
end

SO = File.join(ROOT, "lib", "em_rust", "em_rust.so")
def so_identity = File.exist?(SO) ? File.stat(SO).then { |st| [st.ino, st.size, st.mtime] } : nil
def loadavg = (File.read("/proc/loadavg").split.first(3).join(" ") rescue "?")

def median(values)
  return nil if values.empty?
  s = values.sort
  s.size.odd? ? s[s.size / 2] : (s[s.size / 2 - 1] + s[s.size / 2]) / 2.0
end

# > 1 means the first side (em_rust) is better.
def ratio(ours, theirs, better)
  return nil unless ours && theirs
  a, b = better == "higher" ? [ours, theirs] : [theirs, ours]
  return a / b.to_f if b.positive?
  a > b ? Float::INFINITY : nil
end

def fmt(v)
  return "—" if v.nil?
  return "∞" if v == Float::INFINITY
  return format("%.2f", v) if v.abs < 10
  return format("%.1f", v) if v.abs < 100
  v.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse.then { |s| v.negative? ? "-#{s}" : s }
end

# Two decimals, or three where two would hide which side of the target it is on.
def fmt_ratio(r, min)
  return "—" if r.nil?
  return "∞" if r == Float::INFINITY
  return "#{format('%.1f', r)}×" if r >= 10
  two = format("%.2f", r)
  min && (two.to_f >= min) != (r >= min) ? "#{format('%.3f', r)}×" : "#{two}×"
end

# Check up front that each side loads (and is the one it claims to be).
IMPLS.uniq.each do |impl|
  status, out, err = run_ruby(impl, [File.join(BENCH_DIR, "lib", "loader.rb")], 60)
  next if status&.success?
  hint = impl == "em_rust" ? " (is lib/em_rust/em_rust.so built? try `rake compile`)" : ""
  abort "bench: cannot load #{impl}#{hint}\n#{out}#{err}"
end

$stderr.puts "bench: #{selected.size} benchmarks × #{ROUNDS} rounds, #{SIDES.join(' vs ')}#{QUICK ? ' (quick sizes)' : ''}"
so_at_start = so_identity
load_at_start = loadavg
FileUtils.mkdir_p(File.dirname(RAW))
raw = File.open(RAW, "w")
raw.sync = true
runs = {} # bench => [[results of side 0], [results of side 1]]
failures = []
loaded = {}
# Progress: which benchmark, which run of all, and when the whole run should end
# (the children's mean duration so far times the runs left).
total_runs = selected.size * ROUNDS * 2
runs_done = 0
bench_start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
progress = lambda do
  runs_done += 1
  left = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - bench_start) / runs_done * (total_runs - runs_done)
  format("  [run %d/%d, ETA %dm%02ds]", runs_done, total_runs, left / 60, left % 60)
end
selected.each_with_index do |bench, index|
  runs[bench] = [[], []]
  $stderr.puts "bench: #{bench} (#{index + 1}/#{selected.size})"
  ROUNDS.times do |round|
    order = round.even? ? [0, 1] : [1, 0]
    order.each do |side|
      result, error = run_child(bench, IMPLS[side], "#{bench}-round#{round + 1}-#{SIDES[side]}")
      if result
        raw.puts JSON.generate(result.merge("round" => round + 1))
        runs[bench][side] << result
        loaded[SIDES[side]] ||= result["loaded"]
        _key, m = result["metrics"].first
        $stderr.puts format("  %-16s round %d/%d  %-15s %14s %s%s", bench, round + 1, ROUNDS, SIDES[side], fmt(m["value"]), m["unit"], progress.call)
      else
        failures << "#{bench} round #{round + 1} #{SIDES[side]}: #{error}"
        $stderr.puts format("  %-16s round %d/%d  %-15s FAILED %s%s", bench, round + 1, ROUNDS, SIDES[side], error, progress.call)
      end
    end
  end
end

raw.close
notes = []
if IMPLS.include?("em_rust") && so_identity != so_at_start
  notes << "lib/em_rust/em_rust.so changed during the run: the em_rust results mix builds (and a child may have crashed on it)"
end

A, B = IMPLS == %w[em_rust eventmachine] ? %w[ours EM] : %w[#1 #2]
RATIO_HEADER = "ratio, >1 = #{SIDES[0]} better (rates #{A}/#{B}; µs, ms, MB, kB #{B}/#{A})"
HEADER = ["benchmark", "metric", "#{SIDES[0]} (median)", "#{SIDES[1]} (median)", RATIO_HEADER, "target", "met"].freeze
rows = []
selected.each do |bench|
  sample = (runs[bench][0] + runs[bench][1]).first
  unless sample
    rows << [bench, "all runs failed", "—", "—", "—", "", ""]
    next
  end
  sample["metrics"].each do |key, meta|
    ours, theirs = runs[bench].map { |results| median(results.filter_map { |r| r.dig("metrics", key, "value") }) }
    r = ratio(ours, theirs, meta["better"])
    min, text = BenchTargets.for(bench, key)
    met = if min.nil? then ""
          elsif r.nil? then "no data"
          else r >= min ? "met" : "NOT met"
          end
    counts = runs[bench].map(&:size)
    label = "#{meta['label']} (#{meta['unit']})"
    label += " [runs ok: #{counts.join('/')} of #{ROUNDS}]" if counts.any? { |c| c < ROUNDS }
    rows << [bench, label, fmt(ours), fmt(theirs), fmt_ratio(r, min), text || "", met]
  end
end

# Console table.
widths = HEADER.each_index.map { |i| ([HEADER[i]] + rows.map { |r| r[i] }).map(&:length).max }
line = ->(cells) { cells.each_with_index.map { |c, i| i.between?(2, 4) ? c.rjust(widths[i]) : c.ljust(widths[i]) }.join("  ").rstrip }
puts
puts line.(HEADER)
puts widths.map { |w| "-" * w }.join("  ")
rows.each { |r| puts line.(r) }
unless failures.empty?
  puts
  puts "Failed runs:"
  failures.each { |f| puts "  #{f}" }
end
notes.each { |n| puts "\nWARNING: #{n}" }

# Markdown.
cpu = File.read("/proc/cpuinfo")[/^model name\s*:\s*(.+)$/, 1] rescue nil
md = +"# em_rust benchmarks\n\n"
md << "- Date: #{Time.now.utc.strftime('%Y-%m-%d %H:%M UTC')}\n"
md << "- Machine: #{Etc.nprocessors} CPUs#{cpu ? " (#{cpu.strip})" : ''}, #{RUBY_DESCRIPTION}; load average #{load_at_start} at start, #{loadavg} at end\n"
md << "- Implementations: #{SIDES.map { |s| "#{s} = #{loaded[s] || 'not loaded'}" }.join('; ')}\n"
md << "- em_rust.so: #{so_at_start ? "#{so_at_start[1]} bytes, modified #{so_at_start[2].utc.strftime('%Y-%m-%d %H:%M:%S UTC')}" : 'absent'}\n" if IMPLS.include?("em_rust")
md << "- Rounds: #{ROUNDS}#{QUICK ? ' (BENCH_QUICK: small sizes)' : ''}; each round runs every benchmark once per " \
      "implementation, each in a fresh process, alternating which goes first. Medians of the rounds.\n"
md << "- Ratio: > 1 means #{SIDES[0]} is better — #{SIDES[0]}/#{SIDES[1]} for rates and fires, " \
      "#{SIDES[1]}/#{SIDES[0]} for latencies (µs, ms), timer errors (µs), peak RSS (MB) and RSS per connection (kB).\n"
md << "- Command: `ruby bench/run.rb#{ARGV.empty? ? '' : " #{ARGV.join(' ')}"}`\n\n"
md << "| #{HEADER.join(' | ')} |\n"
md << "|#{HEADER.each_index.map { |i| i.between?(2, 4) ? '---:' : '---' }.join('|')}|\n"
rows.each { |r| md << "| #{r.join(' | ')} |\n" }
unless failures.empty?
  md << "\nFailed runs:\n\n"
  failures.each { |f| md << "- #{f}\n" }
end
notes.each { |n| md << "\n**Warning:** #{n}\n" }
fiber_rows = selected & %w[fibers_sleep fibers_io_wait echo_pingpong_fibers thin_backend_fibers]
unless fiber_rows.empty?
  md << "\n#{fiber_rows.join(', ')}: not like for like. em_rust runs the work in fibers (or, with `EM.callbacks_in_fibers`, " \
        "every callback in one); the real eventmachine has no fibers on its reactor and runs the same work as callbacks " \
        "(thin_backend_fibers: as a blocking call, which is what it does today). The ratio is what moving to fibers on em_rust " \
        "costs or gains against EM as it is used now. Fibers against callbacks on em_rust itself: fibers_io_wait's raw info " \
        "(fibers_vs_callbacks), and echo_pingpong_fibers over the echo_pingpong row.\n"
end
md << "\nrethinkdb_stream: em_rust's client against the official driver's design on the real eventmachine, each with its own reqlite (the ceiling, a client that only reads frames, is in the raw results). " \
      "bench/rethinkdb_em_run.rb compares the two designs on em_rust's reactor in one process, feeds too: `bench/rethinkdb_results.md`.\n"
FileUtils.mkdir_p(File.dirname(OUT))
File.write(OUT, md)
puts
puts "Written to #{OUT.delete_prefix("#{ROOT}/")} (raw results: #{RAW.delete_prefix("#{ROOT}/")})"
exit(failures.empty? ? 0 : 1)
