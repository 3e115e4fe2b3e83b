# frozen_string_literal: true
require "json"

RSpec.describe EventMachine::Protocols::ObjectProtocol do
  it "sends objects with Marshal and receives them whole, however the bytes are split" do
    got = []
    objects = [{ a: [1, 2.5, "x"] }, "s" * 100_000, nil, :sym, (0..255).to_a.pack("C*")]
    server = Class.new(EM::Connection) do
      include EM::P::ObjectProtocol
      define_method(:receive_object) do |obj|
        got << obj
        send_object([:ack, got.size])
      end
    end
    acks = []
    run_em do
      port = em_server(server)
      client = Class.new(EM::Connection) do
        include EM::P::ObjectProtocol
        define_method(:post_init) do
          bytes = objects.map { |o| d = Marshal.dump(o); [d.bytesize].pack("N") + d }.join
          bytes.each_char.each_slice(9973) { |s| send_data(s.join) }
        end
        define_method(:receive_object) do |obj|
          acks << obj
          EM.stop if acks.size == objects.size
        end
      end
      EM.connect("127.0.0.1", port, client)
    end
    expect(got).to eq(objects)
    expect(acks).to eq((1..objects.size).map { |i| [:ack, i] })
  end

  it "uses the serializer the connection names" do
    got = []
    json_protocol = Module.new do
      include EM::P::ObjectProtocol
      def serializer = JSON
    end
    server = Class.new(EM::Connection) do
      include json_protocol
      define_method(:receive_object) { |obj| got << obj; EM.stop }
    end
    sent = nil
    run_em do
      port = em_server(server)
      client = Class.new(EM::Connection) do
        include json_protocol
        define_method(:post_init) { send_object({ "k" => [1, "é"] }) }
        define_method(:send_data) { |d| sent = d; super(d) }
      end
      EM.connect("127.0.0.1", port, client)
    end
    expect(got).to eq([{ "k" => [1, "é"] }])
    json = '{"k":[1,"é"]}'.b
    expect(sent.b).to eq([json.bytesize].pack("N").b + json)
  end
end
