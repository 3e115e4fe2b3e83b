# frozen_string_literal: true
require_relative "rethinkdb_helper"

# A server that breaks the protocol (spec/support/fake_reql_server.rb): every
# kind of bad input becomes a ReqlDriverError with a message that says what was
# wrong; the reactor keeps running and other connections keep working. These
# are the Rust wire layer's decoders, so they always use RethinkDB::Native::Socket.
RSpec.describe "RethinkDB against a misbehaving server", :rethinkdb do
  def connect(server, **opts)
    RethinkDB::Connection.new({ host: "127.0.0.1", port: server.port, transport: RethinkDB::Native::Socket,
                                timeout: 2 }.merge(opts))
  end

  let(:good) { FakeReqlServer.well_behaved }
  after { good.close }

  describe "during the handshake" do
    it "raises ReqlDriverError when the server closes the connection" do
      server = FakeReqlServer.new(handshake: lambda { |io|
        io.read(4)
        io.readline("\0")
        io.close
      })
      expect { connect(server) }.to raise_error(RethinkDB::ReqlDriverError, /\AConnection closed by server/)
    ensure
      server&.close
    end

    it "raises ReqlDriverError when the server answers something that is not RethinkDB" do
      server = FakeReqlServer.new(handshake: lambda { |io|
        io.read(4)
        io.write("HTTP/1.1 400 Bad Request\r\n\r\n\0")
        sleep 2
      })
      expect { connect(server) }.to raise_error(RethinkDB::ReqlDriverError, /not JSON.*HTTP\/1\.1 400/)
    ensure
      server&.close
    end
  end

  # Each answers the first query with bad bytes.
  bad_responses = {
    "a garbage frame" => [->(io, _token) { io.write("\0not a frame, just text that goes on and on") },
                          /\ABad response from server: a frame for token \d+ declares \d+ bytes, more than the limit/],
    "an absurd length" => [->(io, token) { io.write([token, 0xFFFF_FFFF].pack("Q<L<")) },
                           /\ABad response from server: a frame for token 1 declares 4294967295 bytes/],
    "a truncated frame" => [lambda { |io, token|
                              io.write([token, 100].pack("Q<L<") + '{"t":1,')
                              io.close
                            },
                            /\AConnection closed by server in the middle of a response \(token 1: 7 of 100 bytes/],
    "invalid JSON" => [->(io, token) { io.write(FakeReqlServer.frame(token, '{"t":1,"r":[nope]}')) },
                       /\ABad response from server for token 1: invalid JSON .*\[nope\]/],
    "an unknown token" => [->(io, token) { io.write(FakeReqlServer.frame(token + 1000, '{"t":1,"r":[1]}')) },
                           /\ABad response from server: a response for token 1001, which no query on this connection used/]
  }

  bad_responses.each do |what, (respond, message)|
    describe "a response with #{what}" do
      let(:server) { FakeReqlServer.new { |io, token, _query| respond.call(io, token) } }
      after { server.close }

      it "fails a synchronous run with ReqlDriverError and closes the connection" do
        conn = connect(server)
        expect { r.expr(5).run(conn) }.to raise_error(RethinkDB::ReqlDriverError, message)
        expect(conn).to be_closed
      end

      it "reaches em_run as on_error + on_close; the reactor and other connections go on" do
        bad = connect(server)
        other = connect(good)
        log = []
        EM.run do
          r.expr(5).em_run(bad) { |err, val| log << [err&.class, err&.message, val] }
          EM.add_timer(0.2) do
            r.expr(7).em_run(other) do |val|
              log << [:other, val]
              EM.stop
            end
          end
          EM.add_timer(4) { EM.stop }
        end
        expect(log.size).to eq(2)
        expect(log[0][0]).to eq(RethinkDB::ReqlDriverError)
        expect(log[0][1]).to match(message)
        expect(log[0][1]).to end_with("\nBacktrace:\nr(5)\n^^^^")
        expect(log[1]).to eq([:other, 1])
        expect(bad).to be_closed
        expect(other).to be_open
      end
    end
  end
end
