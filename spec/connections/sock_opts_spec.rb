# frozen_string_literal: true
require "spec_helper"

RSpec.describe "socket options" do
  # Runs `blk` with an established client connection, then stops.
  def with_client
    run_em do
      _, port = start_server_on_free_port
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { @done = true }
        define_method(:done?) { @done }
      end
      conn = EM.connect("127.0.0.1", port, client)
      when_true(-> { conn.done? }) do
        yield conn
        EM.stop
      end
    end
  end

  def int_opt(conn, level, opt) = conn.get_sock_opt(level, opt).unpack1("i")

  it "get_sock_opt returns the raw option value as a packed String" do
    with_client do |c|
      value = c.get_sock_opt(Socket::SOL_SOCKET, Socket::SO_KEEPALIVE)
      expect(value).to be_a(String)
      expect(value.bytesize).to eq(4)
      expect(value.unpack1("i")).to eq(0)
    end
  end

  it "set_sock_opt takes true/false, an Integer or a packed String, and returns 0" do
    with_client do |c|
      expect(c.set_sock_opt(Socket::SOL_SOCKET, Socket::SO_KEEPALIVE, true)).to eq(0)
      expect(int_opt(c, Socket::SOL_SOCKET, Socket::SO_KEEPALIVE)).to eq(1)
      expect(c.set_sock_opt(Socket::SOL_SOCKET, Socket::SO_KEEPALIVE, false)).to eq(0)
      expect(int_opt(c, Socket::SOL_SOCKET, Socket::SO_KEEPALIVE)).to eq(0)
      expect(c.set_sock_opt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)).to eq(0)
      expect(int_opt(c, Socket::IPPROTO_TCP, Socket::TCP_NODELAY)).to eq(1)
      expect(c.set_sock_opt(Socket::SOL_SOCKET, Socket::SO_LINGER, [1, 5].pack("ii"))).to eq(0)
      expect(c.get_sock_opt(Socket::SOL_SOCKET, Socket::SO_LINGER).unpack("ii")).to eq([1, 5])
    end
  end

  it "an option the kernel refuses raises a SystemCallError (Errno::...)" do
    with_client do |c|
      expect { c.get_sock_opt(999, 999) }.to raise_error(SystemCallError)
      expect { c.set_sock_opt(999, 999, 1) }.to raise_error(SystemCallError)
    end
  end

  it "EM.get_sock_opt / EM.set_sock_opt work on signatures, including a server's" do
    run_em do
      sig, port = start_server_on_free_port
      expect(EM.get_sock_opt(sig, Socket::SOL_SOCKET, Socket::SO_REUSEADDR).unpack1("i")).to eq(1)
      conn = EM.connect("127.0.0.1", port)
      expect(EM.set_sock_opt(conn.signature, Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)).to eq(0)
      expect(EM.get_sock_opt(conn.signature, Socket::IPPROTO_TCP, Socket::TCP_NODELAY).unpack1("i")).to eq(1)
      EM.stop
    end
  end

  describe "enable_keepalive / disable_keepalive" do
    it "enable_keepalive(idle, interval, count) turns SO_KEEPALIVE on with those TCP settings and returns 0" do
      with_client do |c|
        expect(c.enable_keepalive(30, 5, 4)).to eq(0)
        expect(int_opt(c, Socket::SOL_SOCKET, Socket::SO_KEEPALIVE)).to eq(1)
        expect(int_opt(c, Socket::IPPROTO_TCP, Socket::TCP_KEEPIDLE)).to eq(30)
        expect(int_opt(c, Socket::IPPROTO_TCP, Socket::TCP_KEEPINTVL)).to eq(5)
        expect(int_opt(c, Socket::IPPROTO_TCP, Socket::TCP_KEEPCNT)).to eq(4)
      end
    end

    it "arguments left out (or 0) keep the current TCP settings" do
      with_client do |c|
        defaults = [Socket::TCP_KEEPIDLE, Socket::TCP_KEEPINTVL, Socket::TCP_KEEPCNT].map { |o| int_opt(c, Socket::IPPROTO_TCP, o) }
        expect(c.enable_keepalive).to eq(0)
        expect(int_opt(c, Socket::SOL_SOCKET, Socket::SO_KEEPALIVE)).to eq(1)
        expect([Socket::TCP_KEEPIDLE, Socket::TCP_KEEPINTVL, Socket::TCP_KEEPCNT].map { |o| int_opt(c, Socket::IPPROTO_TCP, o) })
          .to eq(defaults)
        c.enable_keepalive(45)
        expect(int_opt(c, Socket::IPPROTO_TCP, Socket::TCP_KEEPIDLE)).to eq(45)
        c.enable_keepalive(0, 0, 0)
        expect(int_opt(c, Socket::IPPROTO_TCP, Socket::TCP_KEEPIDLE)).to eq(45)
      end
    end

    it "disable_keepalive turns SO_KEEPALIVE off and returns 0" do
      with_client do |c|
        c.enable_keepalive(30, 5, 4)
        expect(c.disable_keepalive).to eq(0)
        expect(int_opt(c, Socket::SOL_SOCKET, Socket::SO_KEEPALIVE)).to eq(0)
      end
    end
  end

  it "EM.get_file_descriptor(sig) is the connection's descriptor" do
    with_client do |c|
      fd = EM.get_file_descriptor(c.signature)
      expect(fd).to be_an(Integer)
      sock = Socket.for_fd(fd)
      sock.autoclose = false
      expect(sock.local_address.ip_port).to eq(port_of(c))
    end
  end
end
