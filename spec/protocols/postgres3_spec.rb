# frozen_string_literal: true
require "digest/md5"
require "openssl"

RSpec.describe "EventMachine::Protocols::Postgres3" do
  before do
    EM::P::Postgres3
  rescue LoadError => e
    skip("real eventmachine's Postgres3 needs the postgres-pr gem (#{e.message})")
  end
  after { @peer&.close }

  # --- a fake PostgreSQL server ------------------------------------------

  module FakePostgresWire
    module_function

    def msg(type, body) = type.b + [body.bytesize + 4].pack("N") + body.b
    def cstr(s) = "#{s}\0".b
    def read_exactly(sock, n) = (sock.read(n) or raise EOFError)

    def read_startup(sock)
      len = read_exactly(sock, 4).unpack1("N")
      body = read_exactly(sock, len - 4)
      version = body.unpack1("N")
      params = body.byteslice(4..-1).split("\0").each_slice(2).to_h
      [version, params]
    end

    def read_msg(sock)
      type = read_exactly(sock, 1)
      len = read_exactly(sock, 4).unpack1("N")
      [type, read_exactly(sock, len - 4)]
    end

    def error(msg) = msg("E", "SFATAL\0".b + "C28P01\0".b + cstr("M#{msg}") + "\0")
    def ready = msg("Z", "I")
    def auth(code, extra = "") = msg("R", [code].pack("N") + extra.b)
    def hmac(key, text) = OpenSSL::HMAC.digest("SHA256", key, text)
  end

  let(:log) { [] }

  # The server side of login, for +method+ :trust, :cleartext, :md5 or
  # :scram, with +password+ the right one.
  def login(sock, method, password)
    version, params = FakePostgresWire.read_startup(sock)
    log << [:startup, version, params]
    user = params["user"]
    case method
    when :cleartext
      sock.write(FakePostgresWire.auth(3))
      _, body = FakePostgresWire.read_msg(sock)
      return sock.write(FakePostgresWire.error("bad password")) unless body == FakePostgresWire.cstr(password)
    when :md5
      salt = "\x01\x02\x03\x04".b
      sock.write(FakePostgresWire.auth(5, salt))
      _, body = FakePostgresWire.read_msg(sock)
      want = "md5" + Digest::MD5.hexdigest(Digest::MD5.hexdigest(password + user) + salt)
      return sock.write(FakePostgresWire.error("bad password")) unless body == FakePostgresWire.cstr(want)
    when :scram
      return unless scram_login(sock, password)
    end
    sock.write(FakePostgresWire.auth(0) + FakePostgresWire.msg("S", FakePostgresWire.cstr("server_version") + FakePostgresWire.cstr("16.0")) +
               FakePostgresWire.msg("K", [42, 7].pack("NN")) + FakePostgresWire.ready)
    true
  end

  # SCRAM-SHA-256 as a server (RFC 5802 section 3), checking the client's proof.
  def scram_login(sock, password)
    sock.write(FakePostgresWire.auth(10, "SCRAM-SHA-256\0\0"))
    _, body = FakePostgresWire.read_msg(sock)
    mech, rest = body.split("\0", 2)
    log << [:mechanism, mech]
    first = rest.byteslice(4..-1)
    client_first_bare = first.sub(/\An,,/, "")
    client_nonce = client_first_bare[/r=([^,]+)/, 1]
    salt = "saltsalt".b
    iterations = 4096
    server_first = "r=#{client_nonce}SERVERNONCE,s=#{[salt].pack('m0')},i=#{iterations}"
    sock.write(FakePostgresWire.auth(11, server_first))
    _, final = FakePostgresWire.read_msg(sock)
    without_proof, proof = final.split(",p=")
    salted = OpenSSL::KDF.pbkdf2_hmac(password, salt: salt, iterations: iterations, length: 32, hash: "SHA256")
    stored_key = OpenSSL::Digest.digest("SHA256", FakePostgresWire.hmac(salted, "Client Key"))
    auth_message = "#{client_first_bare},#{server_first},#{without_proof}"
    signature = FakePostgresWire.hmac(stored_key, auth_message)
    client_key = proof.unpack1("m").bytes.zip(signature.bytes).map { |a, b| a ^ b }.pack("C*")
    unless OpenSSL::Digest.digest("SHA256", client_key) == stored_key
      sock.write(FakePostgresWire.error("password authentication failed"))
      return false
    end
    server_signature = FakePostgresWire.hmac(FakePostgresWire.hmac(salted, "Server Key"), auth_message)
    sock.write(FakePostgresWire.auth(12, "v=#{[server_signature].pack('m0')}"))
    true
  end

  # Answers queries: "select" gets two rows, anything else an error.
  def serve_queries(sock)
    loop do
      type, body = FakePostgresWire.read_msg(sock)
      break unless type == "Q"

      sql = body.chomp("\0")
      log << [:query, sql]
      if sql.start_with?("select")
        field = FakePostgresWire.cstr("n") + [0, 0, 23, 4, -1, 0].pack("NnNnNn")
        field2 = FakePostgresWire.cstr("s") + [0, 0, 25, -1, -1, 0].pack("NnNs>Nn")
        sock.write(FakePostgresWire.msg("T", [2].pack("n") + field + field2) +
                   FakePostgresWire.msg("D", [2, 1].pack("nN") + "1" + ["héllo".bytesize].pack("N") + "héllo".b) +
                   FakePostgresWire.msg("D", [2, 1].pack("nN") + "2" + [-1].pack("l>")) +
                   FakePostgresWire.msg("C", FakePostgresWire.cstr("SELECT 2")) + FakePostgresWire.ready)
      else
        sock.write(FakePostgresWire.msg("E", "SERROR\0".b + "C42601\0".b + FakePostgresWire.cstr("Msyntax error") + "\0") + FakePostgresWire.ready)
      end
    end
  end

  def pg_server(method, password = "secret")
    @peer = ProtocolHelpers::FakePeer.new do |sock, _|
      serve_queries(sock) if login(sock, method, password)
    end
    @peer.port
  end

  # Logs in with +password+; returns what connect's callback got.
  def connect_with(port, password)
    outcome = nil
    run_em do
      db = EM.connect("127.0.0.1", port, EM::P::Postgres3)
      db.connect("appdb", "alice", password).callback do |*status|
        outcome = status
        EM.stop
      end
    end
    outcome
  end

  %i[trust cleartext md5 scram].each do |method|
    it "logs in with #{method} authentication" do
      expect(connect_with(pg_server(method), "secret")).to eq([true])
      expect(log.first).to eq([:startup, 3 << 16, { "user" => "alice", "database" => "appdb" }])
    end
  end

  it "uses the SCRAM-SHA-256 mechanism" do
    connect_with(pg_server(:scram), "secret")
    expect(log).to include([:mechanism, "SCRAM-SHA-256"])
  end

  it "reports a refused login as false and a reason" do
    status, why = connect_with(pg_server(:scram), "wrong")
    expect(status).to be(false)
    expect(why).to include("password authentication failed")
  end

  it "runs queries: fields, rows (nil for NULL), command tag, and errors" do
    port = pg_server(:md5)
    results = {}
    run_em do
      db = EM.connect("127.0.0.1", port, EM::P::Postgres3)
      db.connect("appdb", "alice", "secret").callback do
        db.query("select 2").callback { |*r| results[:select] = r }
        db.query("select 3").callback { |*r| results[:busy] = r } # while the first is running
        EM.add_timer(0.3) do
          db.query("bogus").callback do |*r|
            results[:bogus] = r
            EM.stop
          end
        end
      end
    end
    expect(results[:busy]).to eq([false, "Operation already in progress"])
    ok, result, errors = results[:select]
    expect(ok).to be(true)
    expect(result.fields.map(&:name)).to eq(%w[n s])
    expect(result.rows).to eq([["1", "héllo".b], ["2", nil]])
    expect(result.cmd_tag).to eq("SELECT 2")
    expect(errors).to eq([])
    ok, _, errors = results[:bogus]
    expect(ok).to be(true)
    expect(errors.size).to eq(1)
    expect(errors.first.message).to eq("syntax error") unless real_em_code?(EM::P::Postgres3)
  end

  it "answers false, 'lost connection' when the server goes away" do
    @peer = ProtocolHelpers::FakePeer.new { |sock, _| FakePostgresWire.read_startup(sock) }
    expect(connect_with(@peer.port, "x")).to eq([false, "lost connection"])
  end
end
