# frozen_string_literal: true
require "spec_helper"

# Big reads and big sends, where em_rust neither copies a read out of a buffer of
# its own nor copies a large send_data String (reactor/outbound.rs, read_buffer.rs,
# held_strings.rs): what a user may do with those Strings afterwards.
RSpec.describe "large reads and sends" do
  it "each receive_data String of a fast stream is its own unfrozen binary String: changing one changes no other" do
    payload = pattern_bytes(4 << 20)
    kept = []
    server = Class.new(EM::Connection) do
      define_method(:receive_data) do |data|
        kept << [data, data.dup]
        data << "!" # the receiver owns it
        kept.sum { |_, copy| copy.bytesize } == payload.bytesize && EM.stop
      end
    end
    run_em(20) do
      _, port = start_server_on_free_port(server)
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { payload.bytes.each_slice(256 << 10) { |s| send_data(s.pack("C*")) } }
      end
      EM.connect("127.0.0.1", port, client)
    end
    expect(kept.map { |data, _| data.encoding }.uniq).to eq([Encoding::ASCII_8BIT])
    expect(kept.none? { |data, _| data.frozen? }).to be(true)
    expect(kept.map { |_, copy| copy }.join).to eq(payload)
    expect(kept.map { |data, _| data.delete_suffix("!") }.join).to eq(payload)
  end

  it "send_data sends the bytes a String holds when it is called: changing, clearing or refilling it later changes nothing sent" do
    one = pattern_bytes(300 << 10, seed: 1)
    two = pattern_bytes(200 << 10, seed: 2)
    three = pattern_bytes(64 << 10, seed: 3)
    frozen = pattern_bytes(40 << 10, seed: 4).freeze
    big = pattern_bytes(1 << 20, seed: 5)
    expected = one + two + three + frozen + frozen + big[1000, 100_000] + one
    got = nil
    run_em(20) do
      _, port = start_server_on_free_port(ConnectionHelpers::Collector, ->(data, _) { got = data; EM.stop })
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) do
          buf = one.dup
          send_data(buf)
          buf.replace(two) # a String the caller reuses
          send_data(buf)
          buf.clear
          buf << three
          send_data(buf)
          buf.setbyte(0, buf.getbyte(0) ^ 0xFF) # changed in place after it was sent
          send_data(frozen)
          send_data(frozen)
          slice = big[1000, 100_000] # shares big's bytes
          send_data(slice)
          big.clear
          tail = one.dup
          send_data(tail)
          tail.upcase!
          close_connection_after_writing
        end
      end
      EM.connect("127.0.0.1", port, client)
    end
    expect(got.bytesize).to eq(expected.bytesize)
    expect(got).to eq(expected)
  end

  it "a connection closed with large sends unwritten drops them: the run ends, the next one streams normally, after a GC" do
    results = []
    2.times do |round|
      got = nil
      run_em(20) do
        sink = Class.new(EM::Connection) do
          define_method(:post_init) { pause } # reads nothing: the sender's data stays queued
        end
        _, port = start_server_on_free_port(sink)
        _, port2 = start_server_on_free_port(ConnectionHelpers::Collector, ->(data, _) { got = data; EM.stop })
        stuck = EM.connect("127.0.0.1", port)
        8.times { |i| stuck.send_data(pattern_bytes(1 << 20, seed: i)) }
        EM.add_timer(0.2) do
          results << [round, stuck.get_outbound_data_size.positive?]
          stuck.close_connection
          GC.start
          EM.connect("127.0.0.1", port2) do |c|
            c.send_data(pattern_bytes(2 << 20, seed: round))
            c.close_connection_after_writing
          end
        end
      end
      GC.start
      expect(got).to eq(pattern_bytes(2 << 20, seed: round))
    end
    expect(results).to eq([[0, true], [1, true]])
  end
end
