# frozen_string_literal: true
require_relative "failover_helper"

# em_run(conn, handler, resume: true): a changefeed that survives its server
# dying, against two independent reqlite processes (no replication: the feed
# resumes on a server with other data, which is why the handler is told with
# on_reconnect and, with include_initial/include_states, gets the initial
# values again). reqlite sends initial values and states for point and
# order_by.limit feeds only (RETHINKDB.md §7).
RSpec.describe "em_run changefeeds with resume: true", :rethinkdb, :reqlite,
               em_rust_only: "the RethinkDB client is em_rust's" do
  before(:context) { @cluster = ReqliteCluster.new(2) }
  after(:context) { @cluster&.stop }

  let(:cluster) { @cluster }
  let(:conn) { FailoverSpec.connect(cluster.hosts, reconnect: { initial: 0.02, max: 0.2 }) }

  before do
    2.times do |i|
      cluster.revive(i) unless cluster.servers[i].running?
      FailoverSpec.seed(cluster.port(i), [{ "id" => 1, "server" => i }, { "id" => 2, "server" => i }])
    end
  end

  after { conn.close(noreply_wait: false) }

  def in_use = cluster.index_of(conn.port)

  # An open feed's end when EM.run stops.
  def shutdown = [[:error, RethinkDB::ReqlRuntimeError, "Connection is closed."], [:close]]

  # Writes `row` to server `index` (a connection of its own).
  def write(index, row)
    writer = RethinkDB::Connection.new(host: "127.0.0.1", port: cluster.port(index), db: "test",
                                       transport: RethinkDBSpec.transport)
    r.table("test").insert(row, conflict: "replace").run(writer)
  ensure
    writer&.close(noreply_wait: false)
  end

  # Runs `query` with resume: true; `script` is called with the log each tick
  # and returns true when done.
  def feed(query, resume: true, limit: 10, &script)
    handler = FailoverSpec.recorder
    run_em(limit) do
      query.em_run(conn, handler, resume: resume)
      EM.add_periodic_timer(0.01) { EM.stop if script.call(handler) }
    end
    handler
  end

  it "re-subscribes a point feed on the next server: on_reconnect, then initializing ... ready again" do
    first = in_use
    step = 0
    steps = [
      [->(h) { h.log.include?([:state, "ready"]) }, -> { write(first, { "id" => 1, "server" => first, "n" => 1 }) }],
      [->(h) { h.count(:change) == 1 }, -> { cluster.kill(first) }],
      [->(h) { h.count(:state) == 4 }, -> { write(1 - first, { "id" => 1, "server" => 1 - first, "n" => 2 }) }]
    ]
    handler = feed(r.table("test").get(1).changes(include_initial: true, include_states: true)) do |h|
      if (step = steps.first)
        steps.shift[1].call if step[0].call(h)
        false
      else
        h.count(:change) == 2
      end
    end
    expect(handler.log).to eq([
      [:open], [:state, "initializing"], [:initial_val, { "id" => 1, "server" => first }], [:state, "ready"],
      [:change, { "id" => 1, "server" => first }, { "id" => 1, "server" => first, "n" => 1 }],
      [:reconnect],
      [:state, "initializing"], [:initial_val, { "id" => 1, "server" => 1 - first }], [:state, "ready"],
      [:change, { "id" => 1, "server" => 1 - first }, { "id" => 1, "server" => 1 - first, "n" => 2 }],
      *shutdown
    ])
    expect(in_use).to eq(1 - first)
  end

  it "a handler raising in on_reconnect strands no other feed: the error reaches EM.error_handler, that handler stops (as after any callback that raises), the other goes on" do
    first = in_use
    errors = []
    raising = FailoverSpec.recorder
    raising.define_singleton_method(:on_reconnect) { super(); raise ArgumentError, "from on_reconnect" }
    other = FailoverSpec.recorder
    killed = false
    run_em(10) do
      EM.error_handler { |e| errors << e.message } # removed again in `ensure`
      query = ->(id) { r.table("test").get(id).changes(include_initial: true, include_states: true) }
      query.call(1).em_run(conn, raising, resume: true)
      query.call(2).em_run(conn, other, resume: true)
      EM.add_periodic_timer(0.01) do
        if !killed && raising.count(:state) == 2 && other.count(:state) == 2
          killed = true
          cluster.kill(first)
        end
        EM.stop if other.count(:state) == 4
      end
    end
    expect(errors).to eq(["from on_reconnect"])
    expect(raising.log.last).to eq([:reconnect])
    expect(other.log.drop(4)).to eq([
      [:reconnect], [:state, "initializing"], [:initial_val, { "id" => 2, "server" => 1 - first }], [:state, "ready"],
      *shutdown
    ])
  ensure
    EM.error_handler # removes it: later examples expect errors to end EM.run
  end

  it "re-subscribes an order_by.limit feed" do
    first = in_use
    query = r.table("test").order_by(index: "id").limit(1).changes(include_initial: true, include_states: true)
    killed = false
    handler = feed(query) do |h|
      if !killed && h.count(:state) == 2
        killed = true
        cluster.kill(first)
      end
      h.count(:state) == 4
    end
    expect(handler.log).to eq([
      [:open], [:state, "initializing"], [:initial_val, { "id" => 1, "server" => first }], [:state, "ready"],
      [:reconnect],
      [:state, "initializing"], [:initial_val, { "id" => 1, "server" => 1 - first }], [:state, "ready"],
      *shutdown
    ])
  end

  it "leaves a feed without resume: to end as before (on_error, on_close), and other queries in flight too" do
    first = in_use
    plain = FailoverSpec.recorder
    stream = FailoverSpec.recorder
    handler = feed(r.table("test").get(1).changes(include_initial: true, include_states: true)) do |h|
      if h.log.include?([:state, "ready"]) && plain.log.empty?
        r.table("test").get(2).changes.em_run(conn, plain)
        r.range.em_run(conn, stream)
        EM.add_timer(0.05) { cluster.kill(first) }
      end
      h.count(:state) == 4 && plain.count(:close) == 1 && stream.count(:close) == 1
    end
    expect(handler.count(:reconnect)).to eq(1)
    [plain, stream].each do |other|
      expect(other.log.last(2)).to match([[:error, RethinkDB::ReqlDriverError, /Connection closed by server/], [:close]])
      expect(other.count(:reconnect)).to eq(0)
    end
  end

  it "ends a resumed feed with the new server's error when it cannot run there" do
    first = in_use
    FailoverSpec.seed(cluster.port(1 - first), [])
    other = RethinkDB::Connection.new(host: "127.0.0.1", port: cluster.port(1 - first), transport: RethinkDBSpec.transport)
    r.db("test").table_drop("test").run(other)
    other.close(noreply_wait: false)
    killed = false
    handler = feed(r.table("test").get(1).changes(include_states: true)) do |h|
      if !killed && h.log.include?([:state, "ready"])
        killed = true
        cluster.kill(first)
      end
      h.count(:close) == 1
    end
    # (RethinkDB raises ReqlOpFailedError, a ReqlRuntimeError; reqlite the latter.)
    expect(handler.log).to match([[:open], [:state, "ready"], [:reconnect],
                                  [:error, RethinkDB::ReqlRuntimeError, /\ATable `test.test` does not exist/], [:close]])
  end

  it "closes a feed closed while its connection is away without re-subscribing it" do
    first = in_use
    handle = nil
    handler = FailoverSpec.recorder
    reopened_at = nil
    run_em(10) do
      handle = r.table("test").get(1).changes(include_states: true).em_run(conn, handler, resume: true)
      EM.add_timer(0.1) do
        cluster.kill(first)
        EM.add_periodic_timer(0.005) do
          if !conn.open? && !handle.closed?
            handle.close
          elsif conn.open? && handle.closed?
            reopened_at ||= CoreHelpers.now
            EM.stop if CoreHelpers.now - reopened_at > 0.1
          end
        end
      end
    end
    expect(handler.log).to eq([[:open], [:state, "ready"], [:close]])
    expect(in_use).to eq(1 - first)
  end

  it "with auto_reconnect on too, a run while the connection is away leaves the resuming feed to the backoff: it resumes" do
    slow = FailoverSpec.connect(cluster.hosts, reconnect: { initial: 0.3, max: 0.3 }).auto_reconnect
    first = cluster.index_of(slow.port)
    handler = FailoverSpec.recorder
    tried = nil
    run_em(10) do
      r.table("test").get(1).changes(include_states: true).em_run(slow, handler, resume: true)
      EM.add_timer(0.1) do
        cluster.kill(first)
        EM.add_periodic_timer(0.005) do
          if tried.nil? && !slow.open?
            tried = begin
              r.expr(1).em_run(slow, FailoverSpec.recorder) && :ran
            rescue RethinkDB::ReqlRuntimeError => e
              e.message
            end
          end
          EM.stop if handler.count(:state) == 2 || handler.log.include?([:close])
        end
      end
    end
    expect(tried).to eq("Connection is closed.")
    expect(handler.log).to eq([[:open], [:state, "ready"], [:reconnect], [:state, "ready"], *shutdown])
    expect(cluster.index_of(slow.port)).to eq(1 - first)
  ensure
    slow&.close(noreply_wait: false)
  end
end
