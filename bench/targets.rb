# frozen_string_literal: true
# The targets of issue 2 (item 9: the reactor), issue 3 (item 7: connections),
# issue 5 (item 6: TLS) and issue 12 (performance; where it raised an earlier
# target, its own), in one place. Each is a minimum for the ratio the driver
# prints, where > 1 always means em_rust is better: ours/theirs for throughputs,
# theirs/ours for latencies and memory.
module BenchTargets
  # "benchmark/metric" (or "*/metric" for every benchmark) => [minimum ratio, as the issue says it]
  TARGETS = {
    "next_tick_chain/ops_per_s" => [3.0, "≥ 3× EM"],
    "next_tick_burst/ops_per_s" => [2.0, "≥ 2× EM"],
    "defer_trivial/ops_per_s" => [1.5, "≥ 1.5× EM"],
    "defer_sleeping/ops_per_s" => [0.95, "≥ 0.95× EM"],
    "timers_bulk/timers_per_s" => [1.5, "≥ 1.5× EM"],
    "timer_lateness/p99_us" => [1.0, "≤ EM's"],
    "echo_pingpong/rt_per_s" => [1.35, "≥ 1.35× EM"],
    "echo_external/rt_per_s" => [1.25, "≥ 1.25× EM"],
    "stream/mb_per_s" => [2.2, "≥ 2.2× EM"],
    "connections_5000/conns_per_s" => [2.2, "≥ 2.2× EM"],
    "connections_5000/rss_per_conn_kb" => [1.0, "≤ EM's"],
    "thin_wrk/req_per_s" => [1.1, "≥ 1.1× EM"],
    "thin_wrk/p99_ms" => [1.0, "≤ EM's"],
    "tls_handshakes/tls13_per_s" => [1.0, "≥ 1.0× EM"],
    "tls_handshakes/tls12_per_s" => [1.0, "≥ 1.0× EM"],
    "tls_stream/mb_per_s" => [1.0, "≥ 1.0× EM"],
    "tls_connections/rss_per_conn_kb" => [1.0, "≤ EM's"],
    "rethinkdb_stream/rows_per_s" => [2.0, "≥ 2× the official design"],
    # issue 11 (fibers): rows where em_rust runs fibers and EM runs callbacks; the
    # fiber targets themselves (< 100 ms; within 2x of callbacks; on/off >= 0.7)
    # are in each benchmark's info, not ratios against EM.
    "*/peak_rss_mb" => [1.0, "≤ EM's"],
  }.freeze

  def self.for(bench, metric)
    TARGETS["#{bench}/#{metric}"] || TARGETS["*/#{metric}"]
  end
end
