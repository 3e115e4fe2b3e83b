# frozen_string_literal: true
require_relative "rethinkdb_helper"

# Changefeeds through em_run against reqlite: table, point and order_by.limit
# feeds, initial values and states. reqlite's own feed behaviour differs from
# RethinkDB in places, said where a spec depends on it (RETHINKDB.md §7).
RSpec.describe "em_run changefeeds", :rethinkdb, :reqlite, :em_run do
  let(:conn) { RethinkDBSpec.connect(db: "test") }
  let(:writer) { RethinkDBSpec.connect(db: "test") }

  before { RethinkDBSpec.reset_test_db(conn) }

  after do
    writer.close(noreply_wait: false)
    conn.close(noreply_wait: false)
  end

  let(:feed_handler) do
    Class.new(RethinkDB::Handler) do
      attr_reader :log

      def initialize
        super
        @log = []
      end

      def on_open = @log << [:open]
      def on_close = @log << [:close]
      def on_error(err) = @log << [:error, err.message]
      def on_change(old_val, new_val) = @log << [:change, old_val, new_val]
      def on_initial_val(val) = @log << [:initial_val, val]
      def on_uninitial_val(val) = @log << [:uninitial_val, val]
      def on_state(state) = @log << [:state, state]
      def on_unhandled_change(row) = @log << [:unhandled, row]
    end.new
  end

  # Runs `query` with the feed handler; each write (run on another connection,
  # from another thread) waits until the log has `after` entries. Stops once the
  # log has `total` entries, or after `settle` seconds without news; returns
  # the log as it was then (the feed's force-close at EM.stop comes after).
  def watch(query, writes: [], total: nil, settle: 0.3)
    pending = writes.dup
    quiet_since = nil
    seen = 0
    snapshot = nil
    EM.run do
      query.em_run(conn, feed_handler)
      EM.add_periodic_timer(0.01) do
        log = feed_handler.log
        if log.size != seen
          seen = log.size
          quiet_since = nil
        end
        if (step = pending.first) && log.size >= step[0]
          pending.shift
          EM.defer { step[1].call }
        elsif pending.empty? && (total ? log.size >= total : (quiet_since ||= Time.now) < Time.now - settle)
          snapshot ||= log.dup
          EM.stop
        end
      end
    end
    snapshot
  end

  def seed(*docs)
    r.table("test").insert(docs).run(conn)
  end

  it "reports inserts, updates and deletes of a table as on_change; EM.stop force-closes the feed" do
    log = watch(r.table("test").changes, total: 4, writes: [
      [1, -> { r.table("test").insert({ id: 1, v: 1 }).run(writer) }],
      [2, -> { r.table("test").get(1).update({ v: 2 }).run(writer) }],
      [3, -> { r.table("test").get(1).delete.run(writer) }]
    ])
    expect(log).to eq([
      [:open],
      [:change, nil, { "id" => 1, "v" => 1 }],
      [:change, { "id" => 1, "v" => 1 }, { "id" => 1, "v" => 2 }],
      [:change, { "id" => 1, "v" => 2 }, nil]
    ])
    expect(feed_handler.log[4..]).to eq([[:error, "Connection is closed."], [:close]])
  end

  it "has no initial values or states for a whole-table feed on reqlite (RethinkDB sends both when asked)" do
    seed({ id: 1 }, { id: 2 })
    log = watch(r.table("test").changes(include_initial: true, include_states: true), total: 2, writes: [
      [1, -> { r.table("test").insert({ id: 3 }).run(writer) }]
    ])
    expect(log).to eq([[:open], [:change, nil, { "id" => 3 }]])
  end

  it "sends states only when changes asks for them (reqlite ignores the global include_states of on_state)" do
    seed({ id: 0 })
    log = watch(r.table("test").order_by(index: "id").limit(1).changes(include_states: true), total: 2)
    expect(log).to eq([[:open], [:state, "ready"]]) # no initial values asked: no "initializing"
    feed_handler.log.clear
    log = watch(r.table("test").order_by(index: "id").limit(1).changes(include_states: true, include_initial: true), total: 4)
    expect(log).to eq([[:open], [:state, "initializing"], [:initial_val, { "id" => 0 }], [:state, "ready"]])
    feed_handler.log.clear
    log = watch(r.table("test").order_by(index: "id").limit(1).changes, total: 1)
    expect(log).to eq([[:open]])
  end

  it "follows one document with a point feed, its initial value first" do
    seed({ id: 1, v: 0 })
    log = watch(r.table("test").get(1).changes(include_initial: true), total: 3, writes: [
      [2, -> { r.table("test").get(1).update({ v: 1 }).run(writer) }]
    ])
    expect(log).to eq([
      [:open], [:initial_val, { "id" => 1, "v" => 0 }], [:change, { "id" => 1, "v" => 0 }, { "id" => 1, "v" => 1 }]
    ])
  end

  describe "order_by.limit feeds (ascending, string index: what reqlite supports)" do
    before { seed({ id: 0 }, { id: 1 }, { id: 2 }) }

    it "replaces a member of the top n" do
      log = watch(r.table("test").order_by(index: "id").limit(2).changes(include_initial: true), total: 4, writes: [
        [3, -> { r.table("test").insert({ id: 0.5 }).run(writer) }]
      ])
      expect(log).to eq([
        [:open], [:initial_val, { "id" => 0 }], [:initial_val, { "id" => 1 }], [:change, { "id" => 1 }, { "id" => 0.5 }]
      ])
    end

    it "reports a delete in the top n (with the wrong backfill: reqlite names {id: 1}, RethinkDB {id: 2})" do
      log = watch(r.table("test").order_by(index: "id").limit(2).changes, total: 2, writes: [
        [1, -> { r.table("test").get(0).delete.run(writer) }]
      ])
      expect(log).to eq([[:open], [:change, { "id" => 0 }, { "id" => 1 }]])
    end

    it "reports an update outside the top n as an old_val-only row (a reqlite bug: RethinkDB sends nothing)" do
      log = watch(r.table("test").order_by(index: "id").limit(2).changes, total: 2, writes: [
        [1, -> { r.table("test").get(2).update({ x: 1 }).run(writer) }]
      ])
      expect(log).to eq([[:open], [:uninitial_val, nil]])
    end
  end

  it "ends a feed with .limit with on_close after the last change" do
    log = watch(r.table("test").changes.limit(2), total: 4, writes: [
      [1, -> { r.table("test").insert([{ id: 1 }]).run(writer) }],
      [2, -> { r.table("test").insert([{ id: 2 }]).run(writer) }]
    ])
    expect(log).to eq([[:open], [:change, nil, { "id" => 1 }], [:change, nil, { "id" => 2 }], [:close]])
  end

  it "gives the rows of a feed of plain values to on_unhandled_change" do
    log = watch(r.table("test").changes["new_val"]["id"], total: 2, writes: [
      [1, -> { r.table("test").insert({ id: 7 }).run(writer) }]
    ])
    expect(log).to eq([[:open], [:unhandled, 7]])
  end
end
