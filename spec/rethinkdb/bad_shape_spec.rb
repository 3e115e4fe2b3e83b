# frozen_string_literal: true
require_relative "rethinkdb_helper"

# A server that sends well-formed JSON of the wrong shape (spec/support/fake_reql_server.rb):
# not an object, a type that is not an integer, rows that are not an array, an
# error without its message, pseudo-types that cannot be decoded. Each is a
# ReqlDriverError that says what was wrong and closes the connection; the
# reactor and other connections go on. The check is in Ruby
# (RethinkDB::Responses.check!), so both transports are run
# (RETHINKDB_TRANSPORT=native|ruby).
RSpec.describe "RethinkDB against a server that answers in the wrong shape", :rethinkdb do
  def connect(server, **opts)
    RethinkDB::Connection.new({ host: "127.0.0.1", port: server.port, transport: RethinkDBSpec.transport,
                                timeout: 2 }.merge(opts))
  end

  # Answers every START with `payload` (CONTINUE and STOP get nothing).
  def answering(payload)
    FakeReqlServer.new do |io, token, query|
      io.write(FakeReqlServer.frame(token, payload)) if query.start_with?("[1,")
    end
  end

  def bad(what)
    "Bad response from server for token 1: #{what}\nBacktrace:\nr(5)\n^^^^"
  end

  let(:good) { FakeReqlServer.well_behaved }
  after { good.close }

  time = ->(fields) { JSON.generate([{ "$reql_type$" => "TIME" }.merge(fields)]) }

  # payload => what the message says is wrong (the payload is quoted after it).
  shapes = {
    "[]" => "the response is not a JSON object",
    "null" => "the response is not a JSON object",
    '"ok"' => "the response is not a JSON object",
    '{"t":"x"}' => 'the response type "t" is not an integer',
    '{"t":1.5,"r":[1]}' => 'the response type "t" is not an integer',
    '{"t":1}' => 'a SUCCESS_ATOM response has no "r"',
    '{"t":1,"r":5}' => 'the "r" of a SUCCESS_ATOM response is not an array',
    '{"t":1,"r":[1,2]}' => "a SUCCESS_ATOM response holds 2 values, not one",
    '{"t":2,"r":{"a":1}}' => 'the "r" of a SUCCESS_SEQUENCE response is not an array',
    '{"t":3,"r":"x"}' => 'the "r" of a SUCCESS_PARTIAL response is not an array',
    '{"t":3,"n":[]}' => 'a SUCCESS_PARTIAL response has no "r"',
    '{"t":18,"r":"boom"}' => 'the "r" of a RUNTIME_ERROR response is not [message]',
    '{"t":18,"r":["a","b"]}' => 'the "r" of a RUNTIME_ERROR response is not [message]',
    '{"t":17,"r":[5]}' => 'the "r" of a COMPILE_ERROR response is not [message]',
    '{"t":16,"r":[]}' => 'the "r" of a CLIENT_ERROR response is not [message]',
    '{"t":16}' => 'the "r" of a CLIENT_ERROR response is not [message]',
    '{"t":18,"r":["x"],"e":"QUERY_LOGIC"}' => 'the error type "e" is not an integer',
    '{"t":18,"r":["x"],"b":"here"}' => 'the backtrace "b" is not an array of integers and strings',
    '{"t":18,"r":["x"],"b":[0,{"at":1}]}' => 'the backtrace "b" is not an array of integers and strings',
    '{"t":1,"r":[1],"p":{"ms":1}}' => 'the profile "p" is not an array',
    '{"t":2,"r":[1],"n":"feed"}' => 'the notes "n" are not an array of integers',
    '{"t":2,"r":[1],"n":[1.5]}' => 'the notes "n" are not an array of integers',
    %({"t":1,"r":#{time.call('timezone' => 'Z')}}) => 'a TIME pseudo-type without a numeric "epoch_time"',
    %({"t":1,"r":#{time.call('epoch_time' => '0', 'timezone' => 'Z')}}) =>
      'a TIME pseudo-type without a numeric "epoch_time"',
    %({"t":1,"r":#{time.call('epoch_time' => 0, 'timezone' => 60)}}) =>
      'a TIME pseudo-type whose "timezone" is not a string',
    %({"t":1,"r":#{time.call('epoch_time' => 0, 'timezone' => 'nonsense')}}) =>
      'a TIME pseudo-type with a bad "timezone" ("+HH:MM", "-HH:MM", "UTC" or "A".."I","K".."Z" expected ' \
      "for utc_offset: nonsense)",
    %({"t":1,"r":#{time.call('epoch_time' => 1e306, 'timezone' => 'Z')}}) =>
      'a TIME pseudo-type whose "epoch_time" is out of range',
    '{"t":1,"r":[{"$reql_type$":"GROUPED_DATA","data":{"a":1}}]}' =>
      'a GROUPED_DATA pseudo-type whose "data" is not an array of [group, reduction] pairs',
    '{"t":1,"r":[{"$reql_type$":"GROUPED_DATA"}]}' =>
      'a GROUPED_DATA pseudo-type whose "data" is not an array of [group, reduction] pairs',
    '{"t":1,"r":[{"$reql_type$":"GROUPED_DATA","data":[["a",1],["b"]]}]}' =>
      'a GROUPED_DATA pseudo-type whose "data" is not an array of [group, reduction] pairs',
    '{"t":1,"r":[{"$reql_type$":"BINARY"}]}' => 'a BINARY pseudo-type without a string "data"',
    '{"t":1,"r":[{"$reql_type$":"BINARY","data":[1]}]}' => 'a BINARY pseudo-type without a string "data"',
    '{"t":1,"r":[{"$reql_type$":"BINARY","data":"not base64!"}]}' => 'a BINARY pseudo-type whose "data" is not base64',
    '{"t":1,"r":[{"$reql_type$":"BINARY","data":"YWJjZ"}]}' => 'a BINARY pseudo-type whose "data" is not base64',
    '{"t":1,"r":[{"$reql_type$":"BINARY","data":"YQ==YQ=="}]}' => 'a BINARY pseudo-type whose "data" is not base64',
    '{"t":2,"r":[1,{"a":[{"$reql_type$":"BINARY","data":"%%%"}]}],"n":[]}' =>
      'a BINARY pseudo-type whose "data" is not base64'
  }

  # The quoted part: the response, or for a pseudo-type the pseudo-type itself.
  def quoted(payload)
    response = JSON.parse(payload)
    JSON.generate(pseudo_type_in(response) || response)
  end

  def pseudo_type_in(value)
    case value
    when Hash then value.key?("$reql_type$") ? value : value.each_value.lazy.filter_map { |v| pseudo_type_in(v) }.first
    when Array then value.lazy.filter_map { |v| pseudo_type_in(v) }.first
    end
  end

  shapes.each do |payload, what|
    describe "the response #{payload}" do
      let(:server) { answering(payload) }
      after { server.close }

      it "fails a synchronous run with ReqlDriverError saying what is wrong, and closes the connection" do
        conn = connect(server)
        expect { r.expr(5).run(conn) }.to raise_error(RethinkDB::ReqlDriverError, bad("#{what}: #{quoted(payload)}"))
        expect(conn).to be_closed
      end

      it "reaches em_run as on_error(ReqlDriverError) + on_close; then timers and other connections go on" do
        bad_conn = connect(server)
        other = connect(good)
        log = []
        rql = r
        handler = Class.new(RethinkDB::Handler) do
          define_method(:on_open) { log << :open }
          define_method(:on_val) { |val| log << [:val, val] }
          define_method(:on_error) { |err| log << [:error, err.class, err.message] }
          define_method(:on_close) do
            log << :close
            EM.add_timer(0.01) do
              log << :timer
              rql.expr(7).em_run(other) do |val|
                log << [:other, val]
                EM.stop
              end
            end
          end
        end
        EM.run do
          r.expr(5).em_run(bad_conn, handler)
          EM.add_timer(4) { EM.stop }
        end
        expect(log).to eq([:open, [:error, RethinkDB::ReqlDriverError, bad("#{what}: #{quoted(payload)}")], :close,
                           :timer, [:other, 1]])
        expect(bad_conn).to be_closed
        expect(other).to be_open
      end
    end
  end

  describe "a bad batch after good ones" do
    # A stream: START gets a partial batch [1, 2], CONTINUE a final batch whose rows are not an array.
    let(:server) do
      FakeReqlServer.new do |io, token, query|
        payload = query.start_with?("[1,") ? '{"t":3,"r":[1,2],"n":[]}' : '{"t":2,"r":"x","n":[]}'
        io.write(FakeReqlServer.frame(token, payload)) unless query.start_with?("[3")
      end
    end
    after { server.close }

    let(:message) { bad(%(the "r" of a SUCCESS_SEQUENCE response is not an array: {"t":2,"r":"x","n":[]})) }

    it "fails the cursor of a synchronous run when it reaches that batch" do
      conn = connect(server)
      cursor = r.expr(5).run(conn)
      expect(cursor.next).to eq(1)
      expect(cursor.next).to eq(2)
      expect { cursor.next }.to raise_error(RethinkDB::ReqlDriverError, message)
      expect(conn).to be_closed
    end

    it "gives em_run the good rows, then on_error + on_close" do
      conn = connect(server)
      log = []
      handler = Class.new(RethinkDB::Handler) do
        define_method(:on_stream_val) { |val| log << [:row, val] }
        define_method(:on_error) { |err| log << [:error, err.class, err.message] }
        define_method(:on_close) { log << :close }
      end
      em_run_until_closed { r.expr(5).em_run(conn, handler) }
      expect(log).to eq([[:row, 1], [:row, 2], [:error, RethinkDB::ReqlDriverError, message], :close])
      expect(conn).to be_closed
    end
  end

  it "quotes at most 120 characters of a long response" do
    server = answering(JSON.generate({ "t" => 1, "r" => [1, 2], "padding" => "x" * 500 }))
    conn = connect(server)
    expect { r.expr(5).run(conn) }.to raise_error(RethinkDB::ReqlDriverError) { |err|
      quote = err.message[/not one: (.*)\n/, 1]
      expect(quote).to eq(%({"t":1,"r":[1,2],"padding":"#{'x' * 92}...))
    }
  ensure
    server&.close
  end

  describe "shapes that stay accepted" do
    # [payload, what `run` returns]
    {
      '{"t":1,"r":[]}' => nil, # reqlite's answer to NOREPLY_WAIT
      '{"t":1,"r":[{"$reql_type$":"BINARY","data":"YWJj\r\nZGVm"}]}' => "abcdef", # the server's CRLF every 76 chars
      '{"t":1,"r":[{"$reql_type$":"BINARY","data":"YWI"}]}' => "ab",
      '{"t":1,"r":[{"$reql_type$":"BINARY","data":""}]}' => "",
      '{"t":1,"r":[{"$reql_type$":"GEOMETRY","type":"Point"}]}' => { "$reql_type$" => "GEOMETRY", "type" => "Point" },
      '{"t":1,"r":[{"$reql_type$":5,"data":1}]}' => { "$reql_type$" => 5, "data" => 1 },
      '{"t":1,"r":[1],"b":[],"n":[],"e":null}' => 1,
      '{"t":1.0,"r":[1]}' => 1 # the number 1, as the official driver's `case` sees it
    }.each do |payload, value|
      it "returns #{value.inspect} for #{payload} and keeps the connection open" do
        server = answering(payload)
        conn = connect(server)
        expect(r.expr(5).run(conn)).to eq(value)
        expect(conn).to be_open
      ensure
        server&.close
      end
    end

    it "leaves pseudo-types it is told not to decode alone, whatever their shape" do
      raw = { "$reql_type$" => "TIME", "timezone" => 3 }
      server = answering(JSON.generate({ t: 1, r: [[raw, { "$reql_type$" => "BINARY" }]] }))
      conn = connect(server)
      expect(r.expr(5).run(conn, time_format: "raw", binary_format: "raw")).to eq([raw, { "$reql_type$" => "BINARY" }])
      expect(conn).to be_open
    ensure
      server&.close
    end

    it "keeps a missing or unknown type the official ReqlRuntimeError 'Unexpected response', connection open" do
      ['{"r":["?"]}', '{"t":99,"r":[1]}'].each do |payload|
        server = answering(payload)
        conn = connect(server)
        expect { r.expr(5).run(conn) }.to raise_error(RethinkDB::ReqlRuntimeError, /\AUnexpected response: /) { |err|
          expect(err).not_to be_a(RethinkDB::ReqlDriverError)
        }
        expect(conn).to be_open
      ensure
        server&.close
      end
    end
  end
end
