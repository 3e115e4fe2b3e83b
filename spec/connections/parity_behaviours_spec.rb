# frozen_string_literal: true
require "spec_helper"
require "socket"

# Behaviours programs rely on where em_rust once differed from EventMachine.
RSpec.describe "EventMachine behaviours programs rely on" do
  # A plain socket server in this process: accepts one client and collects all it
  # sends until EOF.
  def collecting_server
    server = TCPServer.new("127.0.0.1", 0)
    held_sockets << server
    received = +"".b
    reader = Thread.new do
      client = server.accept
      while (chunk = client.readpartial(65_536) rescue nil)
        received << chunk
      end
      client.close
    rescue IOError
      nil # the example closed the server before a client came
    end
    [server.addr[1], reader, received]
  end

  it "close_connection_after_writing called twice in one tick still sends everything queued" do
    port, reader, received = collecting_server
    body = pattern_bytes(300_000)
    run_em do
      c = EM.connect("127.0.0.1", port)
      c.send_data(body)
      c.close_connection_after_writing
      c.close_connection_after_writing
      c.define_singleton_method(:unbind) { EM.stop }
    end
    reader.join(bound(5))
    expect(received.bytesize).to eq(body.bytesize)
    expect(received).to eq(body)
  end

  it "a paused connection sends nothing until resume; then everything goes out in order" do
    port, reader, received = collecting_server
    seen = []
    run_em do
      c = EM.connect("127.0.0.1", port)
      c.pause
      c.send_data("one ")
      EM.add_timer(0.1) { c.send_data("two ") }
      EM.add_timer(0.3) do
        seen << received.dup
        c.resume
        c.send_data("end")
        c.close_connection_after_writing
      end
      c.define_singleton_method(:unbind) { EM.stop }
    end
    reader.join(bound(5))
    expect(seen).to eq([""])
    expect(received).to eq("one two end")
  end

  it "get_idle_time is reset by outgoing writes, not only by reads" do
    port, _reader, _received = collecting_server
    idle = []
    run_em do
      c = EM.connect("127.0.0.1", port)
      EM.add_timer(0.3) do
        idle << c.get_idle_time
        c.send_data("x")
        EM.add_timer(0.05) do
          idle << c.get_idle_time
          EM.stop
        end
      end
    end
    expect(idle[0]).to be >= 0.2
    expect(idle[1]).to be < 0.2
  end

  it "EM.num_close_scheduled counts connections whose close is scheduled and not yet done" do
    port, _reader, _received = collecting_server
    counts = []
    run_em do
      counts << EM.num_close_scheduled
      c = EM.connect("127.0.0.1", port)
      c.define_singleton_method(:connection_completed) do
        send_data("bye")
        close_connection_after_writing
        counts << EM.num_close_scheduled
      end
      c.define_singleton_method(:unbind) do
        EM.next_tick do
          counts << EM.num_close_scheduled
          EM.stop
        end
      end
    end
    expect(counts).to eq([0, 1, 0])
  end

  it "get_proxied_bytes counts what proxy_incoming_to relayed" do
    port, reader, received = collecting_server
    counted = nil
    body = pattern_bytes(50_000)
    run_em do
      target = EM.connect("127.0.0.1", port)
      source_handler = Class.new(EM::Connection) do
        define_method(:post_init) { proxy_incoming_to(target) }
      end
      _, proxy_port = start_server_on_free_port(source_handler)
      feeder = EM.connect("127.0.0.1", proxy_port)
      feeder.send_data(body)
      EM.add_periodic_timer(0.02) do
        next unless received.bytesize >= body.bytesize
        counted = EM.instance_variable_get(:@conns).values.grep(source_handler).first&.get_proxied_bytes
        target.close_connection_after_writing
        EM.stop
      end
    end
    reader.join(bound(5))
    expect(counted).to eq(body.bytesize)
  end

  it "EM.set_simultaneous_accept_count sets what EM.get_simultaneous_accept_count reports" do
    seen = []
    run_em do
      EM.set_simultaneous_accept_count(5)
      seen << EM.get_simultaneous_accept_count
      EM.set_simultaneous_accept_count(40)
      seen << EM.get_simultaneous_accept_count
      EM.stop
    end
    expect(seen).to eq([5, 40])
  end
end
