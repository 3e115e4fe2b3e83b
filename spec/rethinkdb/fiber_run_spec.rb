# frozen_string_literal: true
require_relative "rethinkdb_helper"

# A synchronous `run` in a fiber of Fiber.schedule / EM.fiber on the reactor
# thread suspends that fiber, not the loop: the reactor delivers its response
# (as it does em_run's, on the same connection) and the scheduler resumes it.
RSpec.describe "RethinkDB run in a scheduled fiber", :rethinkdb, :reqlite,
               em_rust_only: "EM.fiber and the RethinkDB client are em_rust's" do
  let(:conn) { RethinkDBSpec.connect(db: "test") }

  before { RethinkDBSpec.reset_test_db(conn) }
  after { conn.close(noreply_wait: false) }

  it "returns values and cursors while em_run queries share the connection" do
    out = []
    run_em do
      r.expr([1, 2]).em_run(conn) { |row| out << [:em_run, row] }
      EM.fiber do
        out << [:fiber, r.expr(41).add(1).run(conn)]
        out << [:cursor, r.range(100).run(conn).to_a.size]
        out << [:server, conn.server["port"]]
        EM.stop
      end
    end
    expect(out).to eq([[:em_run, 1], [:em_run, 2], [:fiber, 42], [:cursor, 100],
                       [:server, ReqliteServer.shared.port]])
  end

  it "waits for a change without blocking the loop, which makes the change meanwhile" do
    got = nil
    writes = []
    run_em do
      Fiber.schedule do
        cursor = r.table("test").get(1).changes.run(conn)
        got = cursor.next
        cursor.close
      end
      EM.add_periodic_timer(0.01) { EM.stop if got && writes.any? }
      # Only a turning reactor gets here: the fiber is waiting for the change.
      EM.add_timer(0.1) { r.table("test").insert({ "id" => 1 }).em_run(conn) { |res| writes << res["inserted"] } }
    end
    expect(got).to eq("old_val" => nil, "new_val" => { "id" => 1 })
    expect(writes).to eq([1])
  end

  it "runs two fibers' queries at once, and raises a query's error in its fiber" do
    out = []
    run_em do
      2.times { |i| EM.fiber { out << r.expr(i).run(conn) } }
      EM.fiber do
        r.table("missing").run(conn)
      rescue RethinkDB::ReqlRuntimeError => e
        out << e.message[/Table `test.missing` does not exist/]
      end
      EM.add_periodic_timer(0.01) { EM.stop if out.size == 3 }
    end
    expect(out).to contain_exactly(0, 1, "Table `test.missing` does not exist")
  end

  it "ends a fiber still waiting when the reactor stops with the scheduler's Stopped" do
    ended = nil
    run_em do
      EM.fiber do
        r.table("test").changes.run(conn).next
      rescue Exception => e # rubocop:disable Lint/RescueException -- what ended it
        ended = e.class
        raise
      end
      EM.add_timer(0.1) { EM.stop }
    end
    expect(ended).to eq(EM::FiberScheduler::Stopped)
  end
end
