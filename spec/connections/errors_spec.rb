# frozen_string_literal: true
require "spec_helper"

RSpec.describe "exceptions raised in connection callbacks" do
  after { EM.error_handler(nil) }

  # Server and client handlers that raise `err` from the callback named `where`.
  def raising_pair(where, err)
    server = Class.new(EM::Connection) do
      define_method(:post_init) { raise err if where == :server_post_init }
      define_method(:receive_data) { |_d| raise err if where == :receive_data }
    end
    client = Class.new(EM::Connection) do
      define_method(:connection_completed) do
        raise err if where == :connection_completed
        send_data("x")
        EM.add_timer(0.05) { close_connection }
      end
      define_method(:unbind) { raise err if where == :unbind }
    end
    [server, client]
  end

  # Runs a server raising `err` from `where`, with a plain socket connected to
  # it first (a bystander); returns [what EM.run raised, the bystander, the port].
  def run_raising(where, err)
    server, client = raising_pair(where, err)
    port = nil
    raw = nil
    raised = nil
    begin
      EM.run do
        _, port = start_server_on_free_port(server) { raise err if where == :server_block }
        raw = TCPSocket.new("127.0.0.1", port)
        held_sockets << raw
        EM.connect("127.0.0.1", port, client)
        EM.add_timer(bound(3)) { EM.stop }
      end
    rescue Exception => e # rubocop:disable Lint/RescueException
      raised = e
    end
    [raised, raw, port]
  end

  def expect_closed_by_peer(sock)
    expect(sock.wait_readable(bound(2))).to be_truthy
    expect(sock.read_nonblock(10, exception: false)).to be_nil
  end

  {
    receive_data: "receive_data",
    unbind: "unbind",
    connection_completed: "connection_completed",
    server_post_init: "an accepted connection's post_init",
    server_block: "the start_server block",
  }.each do |where, name|
    it "in #{name}: EM.run re-raises it (the same object) at once, and the port binds again right after" do
      err = RuntimeError.new("raised in #{name}")
      t0 = now
      raised, _raw, port = run_raising(where, err)
      expect(raised).to be(err)
      expect(now - t0).to be < bound(2)
      expect(EM.reactor_running?).to be(false)
      run_em do
        expect(EM.connection_count).to eq(0)
        expect(EM.start_server("127.0.0.1", port, ConnectionHelpers::Echo)).to be_an(Integer)
        EM.stop
      end
    end
  end

  %i[receive_data unbind connection_completed].each do |where|
    it "in #{where}: the other open connections are closed too (the peer sees EOF)" do
      raised, raw, = run_raising(where, RuntimeError.new("x"))
      expect(raised.message).to eq("x")
      expect_closed_by_peer(raw)
    end
  end

  %i[server_post_init server_block].each do |where|
    it "in #{where}: the connection being accepted is closed (the peer sees EOF)",
       em_rust_only: "real EM leaks the accepted descriptor when the accept callback raises: the peer never sees EOF",
       blocks_the_loop: "its bystander TCPSocket.new in the run block must finish before the server accepts" do
      raised, raw, = run_raising(where, RuntimeError.new("x"))
      expect(raised.message).to eq("x")
      expect_closed_by_peer(raw)
    end
  end

  it "with EM.error_handler set, the handler gets the exception and the server keeps serving" do
    handled = []
    EM.error_handler { |e| handled << e.message }
    server = Class.new(EM::Connection) do
      define_method(:receive_data) do |d|
        raise "bad request #{d}" if d.start_with?("bad")
        send_data("ok #{d}")
      end
    end
    replies = []
    client = Class.new(EM::Connection) do
      define_method(:initialize) { |msg| @msg = msg }
      define_method(:connection_completed) { send_data(@msg) }
      define_method(:receive_data) { |d| replies << d; close_connection }
    end
    run_em do
      _, port = start_server_on_free_port(server)
      EM.connect("127.0.0.1", port, client, "bad1")
      EM.add_timer(0.1) { EM.connect("127.0.0.1", port, client, "good") }
      stop_when { replies.any? }
    end
    expect(handled).to eq(["bad request bad1"])
    expect(replies).to eq(["ok good"])
  end

  it "with EM.error_handler set, an exception in unbind reaches the handler and the other connections live on" do
    handled = []
    EM.error_handler { |e| handled << e.message }
    server = Class.new(EM::Connection) do
      define_method(:unbind) { raise "unbind failed" }
      define_method(:receive_data) { |d| send_data(d) }
    end
    echoed = nil
    run_em do
      _, port = start_server_on_free_port(server)
      first = EM.connect("127.0.0.1", port)
      EM.add_timer(0.1) { first.close_connection }
      EM.add_timer(0.3) do
        EM.connect("127.0.0.1", port, Class.new(EM::Connection) do
          define_method(:connection_completed) { send_data("alive") }
          define_method(:receive_data) { |d| echoed = d; EM.stop }
        end)
      end
    end
    expect(handled.first).to eq("unbind failed")
    expect(echoed).to eq("alive")
  end

  it "an exception in the connect block propagates out of EM.connect" do
    run_em do
      _, port = start_server_on_free_port
      expect { EM.connect("127.0.0.1", port) { raise ArgumentError, "in block" } }
        .to raise_error(ArgumentError, "in block")
      EM.add_timer(0.05) { EM.stop }
    end
  end

  it "exceptions from several unbinds during EM.stop: every unbind still runs, and EM.run raises one of them" do
    calls = 0
    handler = Class.new(EM::Connection) do
      define_method(:unbind) do
        calls += 1
        raise "unbind #{calls}"
      end
    end
    expect do
      EM.run do
        _, port = start_server_on_free_port(handler)
        2.times { EM.connect("127.0.0.1", port, handler) }
        EM.add_timer(0.2) { EM.stop }
      end
    end.to raise_error(RuntimeError, /\Aunbind \d\z/)
    expect(calls).to eq(4)
  end
end
