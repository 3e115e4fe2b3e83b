# frozen_string_literal: true
# RethinkDB on the reactor: em_run with a Handler and a changefeed, against a
# reqlite (a ReQL server in Node, npm reqlite@2.3.0) started here on 127.0.0.1
# and stopped, by pid, at the end.
require_relative "../../spec/support/reqlite_server"

module Demo
  # Prints the rows of a query, then calls `after`.
  class RowPrinter < RethinkDB::Handler
    def initialize(after)
      super()
      @after = after
    end

    def on_open = Demo.log("em_run query open")
    def on_val(row) = Demo.log("em_run row #{row.inspect}")

    def on_close
      Demo.log "em_run query closed"
      @after.call
    end
  end

  # Follows the posts table; once open, a second connection writes to it.
  class PostsFeed < RethinkDB::Handler
    def initialize(writer, count, done)
      super()
      @writer = writer
      @count = count
      @done = done
      @changes = 0
      @acked = 0
    end

    def on_open
      Demo.log "changefeed open; inserting #{@count} posts from a second connection"
      r = RethinkDB::RQL.new
      @count.times do |i|
        r.db("demo").table("posts").insert({ id: 100 + i, title: "post #{i + 1}" }).em_run(@writer) do |err, _result|
          Demo.log "insert failed: #{err.message}" if err
          @acked += 1
          finish
        end
      end
    end

    def on_change(old_val, new_val)
      @changes += 1
      Demo.log "change #{@changes}: #{old_val.inspect} -> #{new_val.inspect}" if @changes <= 3 || @changes == @count
      finish
    end

    def on_error(err) = Demo.log("feed error: #{err.message}")

    private

    # Done when every insert is acknowledged and every change has arrived.
    def finish
      return unless @acked == @count && @changes == @count

      Demo.log "all #{@count} inserts acknowledged on the writer connection"
      @done.call
    end
  end

  module_function

  def rethinkdb
    if (why = ReqliteServer.unavailable_reason)
      log "skipped: #{why} (bin/setup with EM_RUST_SETUP_FULL=demo installs it)"
      return
    end
    server = begin
      ReqliteServer.new.start
    rescue RuntimeError => e
      log "skipped: #{e.message.lines.map(&:strip).reject(&:empty?).first(3).join(" / ")}"
      return
    end
    log "reqlite started on 127.0.0.1:#{server.port}"
    begin
      rethinkdb_on(server.port)
    ensure
      server.stop
      log "reqlite stopped"
    end
  end

  def rethinkdb_on(port)
    r = RethinkDB::RQL.new
    conn = r.connect(host: "127.0.0.1", port: port)
    writer = r.connect(host: "127.0.0.1", port: port)
    r.db_create("demo").run(conn)
    r.db("demo").table_create("posts").run(conn)
    r.db("demo").table("posts").insert([{ id: 1, title: "hello" }, { id: 2, title: "world" }]).run(conn)
    log "synchronous run: created demo.posts with 2 rows"
    EM.run do
      feed = nil
      done = lambda do
        feed.close
        EM.stop
      end
      start_feed = -> { feed = r.db("demo").table("posts").changes.em_run(conn, PostsFeed.new(writer, 50, done)) }
      r.db("demo").table("posts").order_by(index: "id").em_run(conn, RowPrinter.new(start_feed))
      EM.add_timer(10) { log "changefeed timed out"; EM.stop }
    end
    [conn, writer].each { |c| c.close(noreply_wait: false) }
  end
end
