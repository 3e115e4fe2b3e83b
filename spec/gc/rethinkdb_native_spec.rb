# frozen_string_literal: true
require_relative "preload"
require_relative "../rethinkdb/rethinkdb_helper"

# The RethinkDB native socket under `rake spec:gc_stress`: responses decoded
# straight into Ruby objects (nested objects, arrays, strings, numbers), early
# CONTINUE, busy polling, and em_run on the reactor.
RSpec.describe "RethinkDB native socket (the GC.stress subset)", :gc_stress, :rethinkdb do
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
    socket.auto_continue(1, true)
    socket.send_query(1, "[1,[10,[]],{}]")
    first = socket.read_response(5)
    expect(first[1]["r"]).to eq([expected, expected])
    second = nil
    second = socket.poll_response(0.01) || socket.read_response(0.1) until second
    expect(second).to eq([1, { "t" => 2, "r" => [expected], "n" => [] }])
    socket.close

    conn = RethinkDB::Connection.new(host: "127.0.0.1", port: server.port, timeout: 5)
    rows = []
    em_run_until_closed(timeout: 60) { r.range.em_run(conn) { |row| rows << row } }
    expect(rows).to eq([expected] * 3)
  ensure
    conn&.close(noreply_wait: false)
    server&.close
  end
end
