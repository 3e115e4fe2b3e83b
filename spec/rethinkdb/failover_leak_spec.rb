# frozen_string_literal: true
require_relative "failover_helper"

# 100 failovers of one connection with a resumed feed, each a relayed
# connection cut (spec/support/tcp_relay.rb: two relays in front of one reqlite,
# so the servers stay up and each failover is quick): afterwards the process
# has the file descriptors and threads it had after the first.
RSpec.describe "RethinkDB failover, 100 times", :rethinkdb, :reqlite, timeout: 40,
                                                                      em_rust_only: "the RethinkDB client is em_rust's" do
  let(:relays) { Array.new(2) { TcpRelay.new(ReqliteServer.shared.port) } }

  after { relays.each(&:stop) }

  def fds = Dir.children("/proc/self/fd").size

  it "leaks no fd or thread" do
    skip "needs /proc/self/fd" unless File.directory?("/proc/self/fd")
    FailoverSpec.seed(ReqliteServer.shared.port, [{ "id" => 1 }])
    conn = FailoverSpec.connect(relays.map { |relay| ["127.0.0.1", relay.port] },
                                reconnect: { initial: 0.001, max: 0.005 })
    handler = FailoverSpec.recorder
    counts = {}
    failovers = 0
    run_em(30) do
      r.table("test").get(1).changes(include_states: true).em_run(conn, handler, resume: true)
      EM.add_periodic_timer(0.005) do
        # Steady: connected, the feed ready again, one relayed connection.
        next unless conn.open? && handler.count(:state) == failovers + 1 && relays.sum(&:connections) == 1

        if [1, 100].include?(failovers)
          GC.start # what earlier specs left unclosed is not counted at one end only
          counts[failovers] = [fds, Thread.list.size]
        end
        if failovers == 100
          EM.stop
        else
          failovers += 1
          relays.find { |relay| relay.connections == 1 }.cut
        end
      end
    end
    expect(handler.count(:reconnect)).to eq(100)
    expect(handler.count(:error)).to eq(1) # the shutdown's
    expect(counts.keys).to eq([1, 100])
    # [fds, threads]: none more after the 100th than after the 1st (fewer is
    # fine: a thread of an earlier spec may end meanwhile)
    expect(counts[100].zip(counts[1])).to all(satisfy { |after, before| after <= before })
    conn.close(noreply_wait: false)
  end
end
