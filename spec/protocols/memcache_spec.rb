# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::Memcache do
  after { @peer&.close }

  let(:commands) { [] }

  # A fake memcached (text protocol: get, set, delete) on a thread; the
  # store is shared by all its connections. With +drop_first+, the first
  # connection is closed after one command.
  def memcached(drop_first: false)
    store = {}
    commands = self.commands
    @peer = ProtocolHelpers::FakePeer.new do |sock, index|
      loop do
        line = read_line(sock, 5)
        commands << line
        words = line.split
        case words.first
        when "set"
          data = sock.read(words[4].to_i + 2)[0...-2]
          store[words[1]] = data
          sock.write("STORED\r\n") unless words[5] == "noreply"
        when "get"
          words.drop(1).each do |k|
            sock.write("VALUE #{k} 0 #{store[k].bytesize}\r\n#{store[k]}\r\n") if store[k]
          end
          sock.write("END\r\n")
        when "delete"
          found = store.delete(words[1])
          sock.write(found ? "DELETED\r\n" : "NOT_FOUND\r\n") unless words.last == "noreply"
        end
        break if drop_first && index.zero?
      end
    end
    @peer.port
  end

  it "sets, gets (several keys, misses as nil), get_hashes and deletes" do
    port = memcached
    seen = []
    run_em do
      cache = described_class.connect("127.0.0.1", port)
      value = "two\r\nlines\0and binary".b
      cache.set(:a, value) do |stored|
        seen << [:stored, stored]
        cache.set("b", 42)
        cache.get(:a, :missing, :b) do |a, missing, b|
          seen << [:got, a, missing, b]
          cache.get_hash(:a, :b) do |h|
            seen << [:hash, h]
            cache.delete(:a) do |found|
              seen << [:deleted, found]
              cache.del(:a) do |again|
                seen << [:deleted, again]
                EM.stop
              end
            end
          end
        end
      end
    end
    value = "two\r\nlines\0and binary".b
    expect(seen).to eq([
      [:stored, true], [:got, value, nil, "42"], [:hash, { a: value, b: "42" }], [:deleted, true], [:deleted, false]
    ])
    expect(commands).to eq(["set a 0 0 #{value.bytesize}", "set b 0 0 2 noreply", "get a missing b", "get a b",
                            "delete a 0", "delete a 0"])
  end

  it "sends commands given before the connection is up, once it is" do
    port = memcached
    got = nil
    run_em do
      cache = described_class.connect("127.0.0.1", port)
      cache.get("key with spaces") do |v|
        got = v
        EM.stop
      end
    end
    expect(got).to be_nil
    expect(commands).to eq(["get key_with_spaces"])
  end

  it "needs a block for get" do
    port = memcached
    run_em do
      cache = described_class.connect("127.0.0.1", port)
      expect { cache.get(:a) }.to raise_error(ArgumentError)
      cache.callback { EM.stop } # connected (stopping earlier makes unbind raise)
    end
  end

  it "reconnects after losing the connection, and queued commands then go out" do
    port = memcached(drop_first: true)
    got = nil
    run_em(6) do
      cache = described_class.connect("127.0.0.1", port)
      cache.set(:k, "v") do
        EM.add_timer(0.2) do # the fake server has dropped the connection by now
          cache.get(:k) do |v|
            got = v
            EM.stop
          end
        end
      end
    end
    expect(got).to eq("v")
  end

  it "raises from unbind when the first connect fails" do
    expect do
      run_em { described_class.connect("127.0.0.1", closed_port) }
    end.to raise_error(RuntimeError, "Unable to connect to memcached server")
  end
end
