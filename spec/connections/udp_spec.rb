# frozen_string_literal: true
require "spec_helper"

RSpec.describe "UDP: EM.open_datagram_socket" do
  # Records [datagram, sender] for every datagram; replies with send_data when
  # `reply` is set (a UDP send_data goes to the sender of the last datagram).
  def udp_handler(log, reply: false)
    Class.new(EM::Connection) do
      define_method(:initialize) { |name| @name = name }
      define_method(:receive_data) do |d|
        log << [@name, d, d.encoding, Socket.unpack_sockaddr_in(get_peername)]
        send_data("re:#{d}") if reply
      end
      define_method(:unbind) { |r| log << [@name, :unbind, r] }
    end
  end

  it "returns a Connection on a bound socket (port 0 picks one), created with initialize(*args) and post_init" do
    log = []
    handler = Class.new(EM::Connection) do
      define_method(:initialize) { |*args| log << [:initialize, args] }
      define_method(:post_init) { log << :post_init }
    end
    run_em do
      conn = EM.open_datagram_socket("127.0.0.1", 0, handler, :x) { |c| log << [:block, c.class] }
      expect(conn).to be_a(handler)
      expect(local_address(conn)).to match([be > 0, "127.0.0.1"])
      EM.stop
    end
    expect(log).to eq([[:initialize, [:x]], :post_init, [:block, handler]])
  end

  it "send_datagram delivers one datagram per receive_data (binary), and get_peername there is the sender" do
    log = []
    sends = []
    client_port = nil
    run_em do
      server = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log), :server)
      port = port_of(server)
      client = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log), :client)
      client_port = port_of(client)
      sends << client.send_datagram("a", "127.0.0.1", port)
      sends << client.send_datagram("bb", "127.0.0.1", port.to_s)
      sends << client.send_datagram("c\u00e9", "127.0.0.1", port)
      stop_when { log.size == 3 }
    end
    log.reject! { |l| l[1] == :unbind }
    expect(sends).to eq([1, 2, 3])
    expect(log).to eq([
      [:server, "a", Encoding::ASCII_8BIT, [client_port, "127.0.0.1"]],
      [:server, "bb", Encoding::ASCII_8BIT, [client_port, "127.0.0.1"]],
      [:server, "c\xC3\xA9".b, Encoding::ASCII_8BIT, [client_port, "127.0.0.1"]],
    ])
  end

  it "send_data from receive_data replies to that datagram's sender" do
    log = []
    run_em do
      server = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log, reply: true), :server)
      port = port_of(server)
      one = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log), :one)
      two = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log), :two)
      one.send_datagram("1", "127.0.0.1", port)
      EM.add_timer(0.05) { two.send_datagram("2", "127.0.0.1", port) }
      stop_when { log.size == 4 }
    end
    log.reject! { |l| l[1] == :unbind }
    replies = log.reject { |name, *| name == :server }.map { |name, d, *| [name, d] }
    expect(replies).to contain_exactly([:one, "re:1"], [:two, "re:2"])
  end

  it "EM.send_datagram(sig, data, length, host, port) is the signature-level form" do
    log = []
    run_em do
      server = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log), :server)
      client = EM.open_datagram_socket("127.0.0.1", 0, EM::Connection)
      expect(EM.send_datagram(client.signature, "hello", 5, "127.0.0.1", port_of(server))).to eq(5)
      stop_when { log.size == 1 }
    end
    expect(log.map { |l| l[1] }.first).to eq("hello")
  end

  it "works on ::1" do
    skip_without_ipv6
    log = []
    run_em do
      server = EM.open_datagram_socket("::1", 0, udp_handler(log, reply: true), :server)
      expect(local_address(server)[1]).to eq("::1")
      client = EM.open_datagram_socket("::1", 0, udp_handler(log), :client)
      client.send_datagram("six", "::1", port_of(server))
      stop_when { log.size == 2 }
    end
    log.reject! { |l| l[1] == :unbind }
    expect(log.map { |name, d, _, (_, host)| [name, d, host] }).to eq([[:server, "six", "::1"], [:client, "re:six", "::1"]])
  end

  it "a datagram to a port where nothing listens does not close the socket" do
    log = []
    run_em do
      server = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log, reply: true), :server)
      client = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log), :client)
      dead = UDPSocket.new.tap { |u| u.bind("127.0.0.1", 0) }
      dead_port = dead.addr[1]
      dead.close
      client.send_datagram("into the void", "127.0.0.1", dead_port)
      EM.add_timer(0.2) { client.send_datagram("still here", "127.0.0.1", port_of(server)) }
      stop_when { log.size == 2 }
    end
    log.reject! { |l| l[1] == :unbind }
    expect(log.map { |name, d, *| [name, d] }).to eq([[:server, "still here"], [:client, "re:still here"]])
  end

  it "close_connection unbinds with nil" do
    log = []
    run_em do
      conn = EM.open_datagram_socket("127.0.0.1", 0, udp_handler(log), :u)
      conn.close_connection
      stop_when { log.size == 1 }
    end
    expect(log).to eq([[:u, :unbind, nil]])
  end

  it "raises RuntimeError 'no datagram socket' for an address it cannot bind" do
    run_em do
      expect { EM.open_datagram_socket("no-such-host.invalid", 0, EM::Connection) }
        .to raise_error(RuntimeError, "no datagram socket")
      EM.stop
    end
  end

  it "send_datagram to a name that does not resolve raises EM::ConnectionError 'error in sending datagram'" do
    run_em do
      conn = EM.open_datagram_socket("127.0.0.1", 0, EM::Connection)
      expect { conn.send_datagram("x", "no-such-host.invalid", 9) }
        .to raise_error(EM::ConnectionError, "error in sending datagram")
      EM.stop
    end
  end
end
