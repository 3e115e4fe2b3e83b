# frozen_string_literal: true
# The connection callbacks of ruby_api/dispatch.rs under `rake spec:gc_stress`,
# each checked in the order it arrives, with small counts:
# - accept (EM.event_accepted: initialize, post_init), connection_completed,
#   receive_data, unbind with nil, Errno::ETIMEDOUT (inactivity and pending-connect
#   timeouts) and Errno::ECONNREFUSED; bind_connect_server;
# - the per-connection queries and settings: error?, peername, sockname, idle_time,
#   outbound_data_size, file_descriptor, get/set_sock_opt, enable/disable_keepalive,
#   comm_inactivity_timeout and pending_connect_timeout (get and set),
#   connection_count, num_close_scheduled, simultaneous_accept_count;
# - pause/resume holding data back, then delivering it in order;
# - notify_readable / notify_writable on EM.watch (and their getters), EM.attach
#   and detach (attach_fd, detach_fd), EM.attach_server (attach_sd);
# - proxy_completed and proxy_target_unbound (start_proxy, stop_proxy, proxied_bytes);
# - a datagram socket: receive_data, send_datagram, peername of the last sender;
# - an exception in receive_data reaching EM.error_handler;
# - large sends held instead of copied (held_strings.rs) and large reads delivered
#   in the String they landed in (read_buffer.rs), the sender's String changed
#   after each send.
require_relative "preload"
require "socket"

RSpec.describe "callback dispatch kinds (the GC.stress subset)", :gc_stress do
  include ConnectionHelpers

  after do
    close_held_sockets
    remove_tmpdir
  end

  # A handler that appends [name, event, ...] to log (and calls after_unbind once
  # unbound); the block (a subclass body) overrides some of its callbacks. The
  # examples stop from callbacks, not by polling: under GC.stress every
  # allocation costs a full GC, and a polling timer allocates all the time.
  def recorder(log, name, after_unbind = nil, &overrides)
    base = Class.new(EM::Connection) do
      define_method(:post_init) { log << [name, :post_init] }
      define_method(:connection_completed) { log << [name, :connection_completed] }
      define_method(:receive_data) { |d| log << [name, :data, d] }
      define_method(:unbind) do |reason = nil|
        log << [name, :unbind, reason]
        after_unbind&.call
      end
    end
    overrides ? Class.new(base, &overrides) : base
  end

  it "accept, post_init, connection_completed, receive_data and unbind arrive in order (bind_connect), with the per-connection queries" do
    log = []
    queries = {}
    server = recorder(log, :server) do
      define_method(:receive_data) do |d|
        log << [:server, :data, d]
        send_data(d.upcase)
        close_connection_after_writing
      end
    end
    client = recorder(log, :client) do
      define_method(:connection_completed) do
        log << [:client, :connection_completed]
        queries[:error] = error?
        queries[:idle] = get_idle_time.is_a?(Numeric)
        queries[:outbound] = get_outbound_data_size
        queries[:fd] = EM.get_file_descriptor(signature).class
        queries[:nodelay] = [set_sock_opt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1),
                             get_sock_opt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY).unpack1("i")]
        queries[:keepalive] = [enable_keepalive(30, 5, 4), disable_keepalive]
        queries[:count] = EM.connection_count
        queries[:close_scheduled] = EM.num_close_scheduled
        send_data("hi")
      end
      define_method(:unbind) do |reason = nil|
        log << [:client, :unbind, reason]
        EM.stop
      end
    end
    run_em do
      EM.set_simultaneous_accept_count(3)
      queries[:accept_count] = EM.get_simultaneous_accept_count
      _, port = start_server_on_free_port(server)
      EM.bind_connect("127.0.0.1", 0, "127.0.0.1", port, client)
    end
    expect(log).to eq([[:client, :post_init], [:server, :post_init], [:client, :connection_completed],
                       [:server, :data, "hi"], [:client, :data, "HI"], [:server, :unbind, nil], [:client, :unbind, nil]])
      .or eq([[:client, :post_init], [:server, :post_init], [:client, :connection_completed],
              [:server, :data, "hi"], [:server, :unbind, nil], [:client, :data, "HI"], [:client, :unbind, nil]])
    expect(queries).to eq(error: false, idle: true, outbound: 0, fd: Integer, nodelay: [0, 1], keepalive: [0, 0],
                          count: 3, close_scheduled: 0, accept_count: 3)
  end

  it "unbinds with Errno::ETIMEDOUT after an inactivity timeout and a pending-connect timeout, and with ECONNREFUSED" do
    log = []
    settings = []
    done = -> { EM.stop if log.count { |l| l[1] == :unbind } == 3 }
    idle = recorder(log, :idle, done) do
      define_method(:post_init) do
        settings << comm_inactivity_timeout
        self.comm_inactivity_timeout = 0.25
        settings << comm_inactivity_timeout
      end
    end
    hanging = recorder(log, :pending, done) do
      define_method(:post_init) do
        self.pending_connect_timeout = 0.25
        settings << pending_connect_timeout
      end
    end
    refused = recorder(log, :refused, done)
    run_em do
      _, port = start_server_on_free_port(ConnectionHelpers::Echo)
      EM.connect("127.0.0.1", port, idle)
      EM.connect("127.0.0.1", black_hole_port, hanging)
      EM.connect("127.0.0.1", refused_port, refused)
    end
    expect(log.select { |l| l[1] == :unbind }).to contain_exactly(
      [:idle, :unbind, Errno::ETIMEDOUT], [:pending, :unbind, Errno::ETIMEDOUT], [:refused, :unbind, Errno::ECONNREFUSED]
    )
    expect(log.select { |l| l[0] == :idle }.map { |l| l[1] }).to eq(%i[connection_completed unbind])
    expect(settings).to eq([0.0, 0.25, 0.25]) # exact in binary: EM keeps a float
  end

  it "a paused connection receives nothing; on resume everything arrives, in order" do
    got = []
    states = []
    receiver = nil
    server = Class.new(EM::Connection) do
      define_method(:post_init) do
        receiver = self
        pause
        states << paused?
      end
      define_method(:receive_data) { |d| got << d }
    end
    run_em do
      _, port = start_server_on_free_port(server)
      EM.connect("127.0.0.1", port) do |c|
        c.send_data("one ")
        EM.add_timer(0.02) { c.send_data("two") }
      end
      EM.add_timer(0.1) do
        states << got.dup
        receiver.resume
        states << receiver.paused?
        stop_when(what: "the held data") { got.join == "one two" }
      end
    end
    expect(states).to eq([true, [], false])
    expect(got.join).to eq("one two")
  end

  it "EM.watch: notify_writable, then notify_readable, with their getters; EM.attach and detach; EM.attach_server" do
    watched = []
    attached = []
    accepted = []
    rd, wr = IO.pipe
    ard, awr = IO.pipe
    listener = TCPServer.new("127.0.0.1", 0)
    held_sockets.push(rd, wr, ard, awr, listener)
    done = -> { EM.stop if watched.size == 5 && attached.size == 2 && accepted.size == 1 }
    writable = Module.new do
      define_method(:notify_writable) do
        self.notify_writable = false
        watched << :writable << notify_writable?
        wr.write("x")
      end
    end
    readable = Module.new do
      define_method(:notify_readable) do
        watched << rd.read_nonblock(10)
        detach
        done.call
      end
    end
    attach_handler = Module.new do
      define_method(:receive_data) do |d|
        attached << d << detach.class
        done.call
      end
    end
    acceptor = Module.new do
      define_method(:post_init) do
        accepted << :post_init
        done.call
      end
    end
    run_em do
      EM.watch(rd, readable) { |c| c.notify_readable = true }
      w = EM.watch(wr, writable)
      w.notify_writable = true
      watched << w.notify_writable? << w.notify_readable?
      EM.attach(ard, attach_handler)
      awr.write("y")
      EM.attach_server(listener, acceptor)
      TCPSocket.new("127.0.0.1", listener.addr[1]).close
    end
    expect(watched).to eq([true, false, :writable, false, "x"])
    expect(attached).to eq(["y", Integer]) # detach returns the descriptor
    expect(accepted).to eq([:post_init])
  end

  it "proxies: proxy_completed after the length, then proxy_target_unbound; proxied bytes counted" do
    log = []
    accepted = []
    named = lambda do |name|
      Class.new(EM::Connection) do
        define_method(:receive_data) { |d| log << [name, :data, d] }
        define_method(:proxy_completed) { log << [name, :proxy_completed, get_proxied_bytes] }
        define_method(:proxy_target_unbound) { log << [name, :proxy_target_unbound] }
        define_method(:unbind) { |*| log << [name, :unbind] }
      end
    end
    run_em do
      _, port = start_server_on_free_port(named.call(:server)) { |c| accepted << c }
      a = EM.connect("127.0.0.1", port, named.call(:a))
      b = EM.connect("127.0.0.1", port, named.call(:b))
      when_true(-> { accepted.size == 2 }, what: "two accepts") do
        source, target = accepted
        target_client = source.get_peername == a.get_sockname ? b : a
        source_client = target_client.equal?(a) ? b : a
        EM.enable_proxy(source, target, 0, 3)
        source_client.send_data("abcdef")
        server_data = -> { log.select { |l| l[0] == :server && l[1] == :data }.map(&:last).join }
        client_data = -> { log.select { |l| l[0] != :server && l[1] == :data }.map(&:last).join }
        when_true(-> { server_data.call == "def" && client_data.call == "abc" }, what: "abc proxied, def received") do
          source.proxy_incoming_to(target)
          target.close_connection
          when_true(-> { log.any? { |l| l[1] == :proxy_target_unbound } }, what: "proxy_target_unbound") do
            source.stop_proxying
            EM.stop
          end
        end
      end
    end
    server_events = log.select { |l| l[0] == :server && l[1] != :unbind }
    expect(server_events).to eq([[:server, :proxy_completed, 3], [:server, :data, "def"], [:server, :proxy_target_unbound]])
    expect(log.select { |l| l[0] != :server && l[1] == :data }.map(&:last)).to eq(["abc"])
  end

  it "a datagram socket receives, answers with send_datagram and knows its last sender" do
    got = []
    peer = UDPSocket.new
    peer.bind("127.0.0.1", 0)
    handler = Module.new do
      define_method(:receive_data) do |d|
        got << d << Socket.unpack_sockaddr_in(get_peername).first
        send_datagram(d.upcase, "127.0.0.1", Socket.unpack_sockaddr_in(get_peername).first)
      end
    end
    reply = nil
    run_em do
      udp = EM.open_datagram_socket("127.0.0.1", 0, handler)
      peer.send("ping", 0, "127.0.0.1", port_of(udp))
      stop_when(what: "the reply") do
        reply = peer.recvfrom_nonblock(10, exception: false) unless reply.is_a?(Array)
        reply.is_a?(Array)
      end
    end
    expect(got).to eq(["ping", peer.addr[1]])
    expect(reply.first).to eq("PING")
  ensure
    peer&.close
  end

  it "an exception in receive_data goes to EM.error_handler and the connection lives on" do
    errors = []
    got = []
    server = Class.new(EM::Connection) do
      define_method(:receive_data) do |d|
        got << d
        raise ArgumentError, "bad #{d}" if d == "1"
        EM.stop
      end
    end
    EM.error_handler { |e| errors << [e.class, e.message] }
    run_em do
      _, port = start_server_on_free_port(server)
      EM.connect("127.0.0.1", port) do |c|
        c.send_data("1")
        EM.add_timer(0.05) { c.send_data("2") }
      end
    end
    expect(errors).to eq([[ArgumentError, "bad 1"]])
    expect(got).to eq(%w[1 2])
  ensure
    EM.error_handler(nil)
  end

  it "large sends arrive as they were when sent, and large reads arrive whole, with the Strings changed after the send" do
    chunks = [Random.new(1).bytes(100 << 10), Random.new(2).bytes(64 << 10)]
    got = nil
    run_em(60) do
      _, port = start_server_on_free_port(ConnectionHelpers::Collector, ->(data, _) { got = data; EM.stop })
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) do
          buf = chunks[0].dup
          send_data(buf)
          buf.replace(chunks[1])
          send_data(buf)
          buf.clear
          close_connection_after_writing
        end
      end
      EM.connect("127.0.0.1", port, client)
    end
    expect(got).to eq(chunks.join)
  end
end
