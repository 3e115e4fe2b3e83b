# frozen_string_literal: true
require_relative "preload"
require_relative "../rethinkdb/rethinkdb_helper"

# The RethinkDB native socket under `rake spec:gc_stress`: connect and
# connect_tls (verified against the test CA of spec/support/tls_helpers.rb),
# responses decoded straight into Ruby objects (nested objects, arrays, strings,
# numbers), early CONTINUE, busy polling, local_port/fileno/closed?, and em_run
# on the reactor.
RSpec.describe "RethinkDB native socket (the GC.stress subset)", :gc_stress, :rethinkdb do
  before(:context) { TlsHelpers::Certs.instance } # key generation: not under GC.stress

  # A TLS terminator (the test server certificate) for one connection, relaying
  # it to `target_port` in the clear; it runs in a forked child, at full speed
  # while this process is under GC.stress. Returns [port, pid].
  def tls_front(target_port)
    certs = TlsHelpers::Certs.instance
    tcp = TCPServer.new("127.0.0.1", 0)
    pid = fork do
      GC.stress = false # inherited from the example
      ctx = OpenSSL::SSL::SSLContext.new
      ctx.cert = certs.server_cert
      ctx.key = certs.server_key
      client = OpenSSL::SSL::SSLServer.new(tcp, ctx).accept
      backend = TCPSocket.new("127.0.0.1", target_port)
      loop do
        IO.select([client, backend]).first.each do |from|
          data = from.read_nonblock(65_536, exception: false)
          next if data == :wait_readable
          exit!(0) if data.nil?
          (from.equal?(client) ? backend : client).write(data)
        end
      end
    rescue IOError, SystemCallError, OpenSSL::SSL::SSLError
      nil # the client went away
    ensure
      exit!(0) # never the parent's at_exit hooks: TlsHelpers removes the certificates in one
    end
    [tcp.addr[1], pid]
  ensure
    tcp&.close
  end

  it "connect_tls: the handshake verified against a CA file, then a query and its response" do
    server = FakeReqlServer.new(process: true) do |io, token, _query|
      io.write(FakeReqlServer.frame(token, '{"t":1,"r":["over tls"]}'))
    end
    port, pid = tls_front(server.port)
    socket = RethinkDB::Native::Socket.connect_tls("127.0.0.1", port, "admin", "", 5, TlsHelpers::Certs.instance.ca_file)
    socket.send_query(1, "[1,[10,[]],{}]")
    expect(socket.read_response(5)).to eq([1, { "t" => 1, "r" => ["over tls"] }])
    socket.close
  ensure
    if pid
      Process.kill(:KILL, pid) rescue nil # rubocop:disable Style/RescueModifier
      Process.wait(pid)
    end
    server&.close
  end

  it "decodes responses, continues streams and delivers them through em_run" do
    doc = '{"a":[1,2.5,"three",{"b":null,"c":true}],"s":"' + ("x" * 40) + '"}'
    server = FakeReqlServer.new(process: true) do |io, token, query|
      case JSON.parse(query)[0]
      when 1 then io.write(FakeReqlServer.frame(token, %({"t":3,"r":[#{doc},#{doc}],"n":[]})))
      when 2 then io.write(FakeReqlServer.frame(token, %({"t":2,"r":[#{doc}],"n":[]})))
      end
    end
    expected = JSON.parse(doc)

    socket = RethinkDB::Native::Socket.connect("127.0.0.1", server.port, "admin", "", 5)
    expect([socket.local_port.class, socket.fileno.class, socket.closed?]).to eq([Integer, Integer, false])
    socket.auto_continue(1, true)
    socket.send_query(1, "[1,[10,[]],{}]")
    first = socket.read_response(5)
    expect(first[1]["r"]).to eq([expected, expected])
    second = nil
    second = socket.poll_response(0.01) || socket.read_response(0.1) until second
    expect(second).to eq([1, { "t" => 2, "r" => [expected], "n" => [] }])
    socket.close
    expect(socket.closed?).to be(true)

    conn = RethinkDB::Connection.new(host: "127.0.0.1", port: server.port, timeout: 5)
    rows = []
    em_run_until_closed(timeout: 60) { r.range.em_run(conn) { |row| rows << row } }
    expect(rows).to eq([expected] * 3)
  ensure
    conn&.close(noreply_wait: false)
    server&.close
  end
end
