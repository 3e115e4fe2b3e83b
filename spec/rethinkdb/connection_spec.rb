# frozen_string_literal: true
require_relative "rethinkdb_helper"

# r.connect and the Connection object, against a reqlite server.
RSpec.describe "RethinkDB connection", :rethinkdb, :reqlite do
  let(:server) { ReqliteServer.shared }
  let(:conn) { RethinkDBSpec.connect }

  before { RethinkDBSpec.reset_test_db(conn) }
  after { conn.close(noreply_wait: false) }

  it "connects with host:, port:, db:, user:, password:, timeout:" do
    # reqlite checks no client proof; it signs with the password "" (RETHINKDB.md §7).
    c = r.connect(host: "127.0.0.1", port: server.port, db: "test", user: "admin", password: "", timeout: 5,
                  transport: RethinkDBSpec.transport)
    expect(c).to be_open
    expect(c.default_db).to eq("test")
    expect(r.table("test").count.run(c)).to eq(0)
    c.close(noreply_wait: false)
    expect(c).to be_closed
  end

  it "takes string keys, and a String argument as the host (default port 28015)" do
    c = RethinkDB::Connection.new("host" => "127.0.0.1", "port" => server.port, "transport" => RethinkDBSpec.transport)
    expect([c.host, c.port]).to eq(["127.0.0.1", server.port])
    c.close(noreply_wait: false)
    allow(RethinkDB::Connection).to receive(:default_transport).and_return(RethinkDBSpec::FakeTransport)
    c = r.connect("db.example")
    expect([c.host, c.port, c.default_db]).to eq(["db.example", 28_015, nil])
  end

  it "inspects with its address, default db and state" do
    expect(conn.inspect).to match(/\A#<RethinkDB::Connection:\d+ \(127\.0\.0\.1:#{server.port}\) \(Default DB: r\.db\("test"\)\) \(open\)>\z/)
    conn.use("other")
    expect(conn.inspect).to include('(Default DB: r.db("other"))')
  end

  it "uses its db for queries without one (sent as the global optarg db)" do
    expect(r.table("test").insert({ id: 1 }).run(conn)["inserted"]).to eq(1)
    r.db_create("other").run(conn)
    r.db("other").table_create("test").run(conn)
    conn.use("other")
    expect(conn.default_db).to eq("other")
    expect(r.table("test").count.run(conn)).to eq(0)
    expect(r.table("test").count.run(conn, db: "test")).to eq(1)
  ensure
    r.db_drop("other").run(conn)
  end

  describe "the block form" do
    it "closes the connection after the block, with noreply_wait, which reqlite answers wrongly" do
      # reqlite answers NOREPLY_WAIT with SUCCESS_ATOM [] (RETHINKDB.md §7), so the
      # close at the end of the block raises; the connection is closed anyway.
      seen = nil
      expect do
        r.connect(host: "127.0.0.1", port: server.port, transport: RethinkDBSpec.transport) do |c|
          seen = c
          expect(r.expr(1).run(c)).to eq(1)
        end
      end.to raise_error(RethinkDB::ReqlRuntimeError, %(Unexpected response to noreply_wait: {"t"=>1, "r"=>[]}\n))
      expect(seen).to be_closed
    end

    it "returns the block's value when the close succeeds" do
      conn_class = Class.new(RethinkDB::Connection) do
        def close(opts = {})
          super(opts.merge(noreply_wait: false))
        end
      end
      stub_const("RethinkDB::Connection", conn_class)
      value = r.connect(host: "127.0.0.1", port: server.port, transport: RethinkDBSpec.transport) { |c| r.expr(7).run(c) }
      expect(value).to eq(7)
    end
  end

  it "repl makes it the default connection of run" do
    expect(conn.repl).to equal(conn)
    expect(r.expr(3).run).to eq(3)
    expect(RethinkDB::RQL.default_conn).to equal(conn)
  ensure
    RethinkDB::RQL.set_default_conn(nil)
  end

  it "raises without a connection" do
    RethinkDB::RQL.set_default_conn(nil)
    expect { r.expr(1).run }.to raise_error(
      ArgumentError, "No connection specified!\nUse `query.run(conn)` or `conn.repl(); query.run`."
    )
  end

  it "tells the server's name and id" do
    info = conn.server
    expect(info.keys).to include("id", "name")
  end

  it "noreply_wait raises on reqlite, which answers SUCCESS_ATOM [] instead of WAIT_COMPLETE" do
    expect { conn.noreply_wait }.to raise_error(
      RethinkDB::ReqlRuntimeError, %(Unexpected response to noreply_wait: {"t"=>1, "r"=>[]}\n)
    )
  end

  it "closes: later queries raise, close(noreply_wait: false) needs no server round trip" do
    conn.close(noreply_wait: false)
    expect(conn).to be_closed
    expect { r.expr(1).run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError, "Connection is closed.")
    expect { conn.server }.to raise_error(RethinkDB::ReqlRuntimeError, "Connection is closed.")
    expect { conn.noreply_wait }.to raise_error(RethinkDB::ReqlRuntimeError, "Connection is closed.")
  end

  it "rejects bad close and reconnect arguments" do
    expect { conn.close(1) }.to raise_error(ArgumentError, "Argument to close must be a hash.")
    expect { conn.close(bogus: 1) }.to raise_error(ArgumentError, "close does not understand these options: [:bogus]")
    expect { conn.reconnect(1) }.to raise_error(ArgumentError, "Argument to reconnect must be a hash.")
  end

  it "reconnects, and invalidates cursors of the old connection" do
    cursor = r.range.run(conn)
    first_id = conn.conn_id
    conn.reconnect(noreply_wait: false)
    expect(conn.conn_id).to eq(first_id + 1)
    expect(conn).to be_open
    expect(r.expr(2).run(conn)).to eq(2)
    expect { cursor.to_a }.to raise_error(RethinkDB::ReqlRuntimeError, "Connection is closed.")
  end

  it "refuses connect on an open connection" do
    expect { conn.connect }.to raise_error(RuntimeError, "Connection must be closed before calling connect.")
  end

  it "reconnects by itself with auto_reconnect" do
    expect(conn.auto_reconnect).to equal(conn)
    conn.close(noreply_wait: false)
    expect(r.expr(5).run(conn)).to eq(5)
  end

  it "remembers the last connection made" do
    c = RethinkDBSpec.connect
    expect(RethinkDB::Connection.last).to equal(c)
    c.close(noreply_wait: false)
  end

  it "refuses a password together with an auth key" do
    expect { RethinkDBSpec.connect(password: "a", auth_key: "b") }
      .to raise_error(RethinkDB::ReqlDriverError, "Cannot specify both a password and an auth key.")
  end

  it "raises ReqlAuthError for a wrong password (reqlite signs with the empty password)" do
    expect { RethinkDBSpec.connect(password: "wrong") }
      .to raise_error(RethinkDB::ReqlAuthError, /\AServer signature \S+ does not match expected signature \S+\.\z/)
  end

  it "raises ReqlDriverError for a closed port" do
    port = TCPServer.new("127.0.0.1", 0).then { |s| s.addr[1].tap { s.close } }
    expect { RethinkDB::Connection.new(host: "127.0.0.1", port: port, transport: RethinkDBSpec.transport) }
      .to raise_error(RethinkDB::ReqlDriverError)
  end
end
