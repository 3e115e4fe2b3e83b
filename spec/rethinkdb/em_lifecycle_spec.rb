# frozen_string_literal: true
require_relative "rethinkdb_helper"

# What happens to open em_run queries when the reactor stops, when the
# connection is closed, and when the server goes away (RETHINKDB.md §2.3):
# against real reqlite processes, one of them killed.
RSpec.describe "em_run at shutdown and connection loss", :rethinkdb, :reqlite, :em_run do
  let(:printer) do
    Class.new(RethinkDB::Handler) do
      attr_reader :log

      def initialize
        super
        @log = []
      end

      def on_open = @log << :open
      def on_close = @log << :closed
      def on_error(err) = @log << [:err, err.class, err.to_s]
      def on_val(val) = @log << [:val, val]
    end.new
  end

  describe "EM.stop with an open feed" do
    let(:conn) do
      RethinkDBSpec::SpyTransport.inner = RethinkDBSpec.transport
      RethinkDBSpec.connect(db: "test", transport: RethinkDBSpec::SpyTransport)
    end

    before { RethinkDBSpec.reset_test_db(conn) }
    after { conn.close(noreply_wait: false) }

    it "gives the handler on_error(\"Connection is closed.\") and on_close, and sends the server STOP" do
      handle = nil
      EM.run do
        handle = r.table("test").changes.em_run(conn, printer)
        em_until(-> { printer.log == [:open] })
      end
      expect(printer.log).to eq([:open, [:err, RethinkDB::ReqlRuntimeError, "Connection is closed."], :closed])
      expect(handle).to be_closed
      queries = conn.instance_variable_get(:@transport).queries
      expect(queries.last).to eq([handle.token, [3]])
      # The connection is back to synchronous use; the feed is gone on the server.
      expect(r.table("test").insert({ id: 1 }).run(conn)["inserted"]).to eq(1)
    end

    it "raises the error of a one-argument block out of EM.run" do
      expect do
        EM.run do
          r.table("test").changes.em_run(conn) { |_row| nil }
          EM.add_timer(0.05) { EM.stop }
        end
      end.to raise_error(RethinkDB::ReqlRuntimeError, "Connection is closed.")
      expect(EM.reactor_running?).to be(false)
      expect(r.expr(1).run(conn)).to eq(1)
    end

    it "force-closes only queries still open" do
      done = printer
      EM.run do
        r.expr(1).em_run(conn, done)
        em_until(-> { done.log.include?(:closed) })
      end
      expect(done.log).to eq([:open, [:val, 1], :closed])
    end

    it "closes the open queries of Connection#close too" do
      EM.run do
        r.table("test").changes.em_run(conn, printer)
        EM.add_periodic_timer(0.01) do
          next unless printer.log == [:open]
          conn.close(noreply_wait: false)
          EM.stop
        end
      end
      expect(printer.log).to eq([:open, [:err, RethinkDB::ReqlRuntimeError, "Connection is closed."], :closed])
      expect(conn).to be_closed
    end
  end

  describe "a server that goes away", timeout: 30 do
    let(:server) { ReqliteServer.new.start }
    let(:conn) { RethinkDBSpec.connect(server) }

    after do
      conn.close(noreply_wait: false)
      server.stop
    end

    it "reaches every open query as on_error (ReqlDriverError) then on_close, and closes the connection" do
      RethinkDBSpec.reset_test_db(conn)
      conn.use("test")
      second = printer.class.new
      sync_error = nil
      waiter = nil
      EM.run do
        r.table("test").changes.em_run(conn, printer)
        r.table("test").get(1).changes.em_run(conn, second)
        waiter = Thread.new do
          r.table("test").changes.run(conn).next
        rescue StandardError => e
          sync_error = e
        end
        EM.add_timer(0.3) { server.stop }
        em_until(-> { printer.log.include?(:closed) && second.log.include?(:closed) && !waiter.alive? }, timeout: 10)
      end
      expect(printer.log[0]).to eq(:open)
      expect(printer.log[1][0..1]).to eq([:err, RethinkDB::ReqlDriverError])
      expect(printer.log[1][2]).to match(/\AConnection closed by server.*\nBacktrace:\nr\.table\("test"\)\.changes\n\^{23}\z/m)
      expect(printer.log[2..]).to eq([:closed])
      expect(second.log.map { |entry| entry.is_a?(Array) ? entry[1] : entry })
        .to eq([:open, RethinkDB::ReqlDriverError, :closed])
      expect(conn).to be_closed
      expect(sync_error).to be_a(RethinkDB::ReqlDriverError)
      expect(sync_error.message).to start_with("Connection closed by server")
      expect { r.expr(1).run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError, "Connection is closed.")
    end
  end
end
