# frozen_string_literal: true
require_relative "rethinkdb_helper"

# Shared by the several-hosts specs: a handler that logs every callback, and
# seeding each server of a ReqliteCluster (independent reqlite processes: no
# replication, so every server gets its own copy of the rows).
module FailoverSpec
  module_function

  def recorder
    RethinkDBSpec.recorder(:open, :close, :val, :change, :initial_val, :state, :reconnect).new
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
