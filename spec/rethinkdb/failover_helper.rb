# frozen_string_literal: true
require_relative "rethinkdb_helper"

# Shared by the several-hosts specs: a handler that logs every callback, and
# seeding each server of a ReqliteCluster (independent reqlite processes: no
# replication, so every server gets its own copy of the rows).
module FailoverSpec
  module_function

  def recorder
    Class.new(RethinkDB::Handler) do
      attr_reader :log

      def initialize
        super
        @log = []
      end

      def on_open = @log << [:open]
      def on_close = @log << [:close]
      def on_error(err) = @log << [:error, err.class, err.message]
      def on_val(val) = @log << [:val, val]
      def on_change(old_val, new_val) = @log << [:change, old_val, new_val]
      def on_initial_val(val) = @log << [:initial_val, val]
      def on_state(state) = @log << [:state, state]
      def on_reconnect = @log << [:reconnect]

      def count(kind) = @log.count { |entry| entry[0] == kind }
    end.new
  end

  # A `test` database with table `test` holding `rows` on the server at `port`.
  def seed(port, rows)
    conn = RethinkDB::Connection.new(host: "127.0.0.1", port: port, transport: RethinkDBSpec.transport)
    RethinkDBSpec.reset_test_db(conn)
    RethinkDB::RQL.new.db("test").table("test").insert(rows).run(conn) unless rows.empty?
  ensure
    conn&.close(noreply_wait: false)
  end

  def connect(hosts, **opts)
    RethinkDB::Connection.new({ hosts: hosts, db: "test", timeout: 5, transport: RethinkDBSpec.transport }.merge(opts))
  end
end
