# frozen_string_literal: true
# Helpers for spec/connections (run_em is in core_helpers.rb): ports that are
# sure to refuse, a listener whose backlog is full (so connects hang), polling
# inside the reactor, and small handlers the specs share. Everything binds to
# loopback only.
require "socket"
require "tmpdir"
require "fileutils"

module ConnectionHelpers
  HOST = "127.0.0.1"
  HOST6 = "::1"

  # Echoes every byte back.
  class Echo < EM::Connection
    def receive_data(data) = send_data(data)
  end

  # Upper-cases what it echoes (so a reply is told apart from what was sent).
  class Upcase < EM::Connection
    def receive_data(data) = send_data(data.upcase)
  end

  # Collects everything it receives; calls `on_unbind.(data, reason)` once closed.
  class Collector < EM::Connection
    attr_reader :data

    def initialize(on_unbind = nil)
      super()
      @on_unbind = on_unbind
      @data = +"".b
    end

    def receive_data(chunk) = @data << chunk

    def unbind(reason)
      @on_unbind&.call(@data, reason)
    end
  end

  # Inside the reactor: polls `cond` every 10 ms and calls `then_blk` once it
  # holds. Past `timeout` it raises (which ends EM.run with that error), so
  # the example fails saying what it waited for.
  def when_true(cond, timeout: 3, what: "condition", &then_blk)
    limit = bound(timeout)
    deadline = now + limit
    timer = EM.add_periodic_timer(0.01) do
      if cond.call
        timer.cancel
        then_blk.call
      elsif now > deadline
        timer.cancel
        raise "timed out after #{limit}s waiting for #{what}"
      end
    end
  end

  # Stops the reactor once `cond` holds (see when_true).
  def stop_when(timeout: 3, what: "condition", &cond)
    when_true(cond, timeout: timeout, what: what) { EM.stop }
  end

  # The [port, host] of a server signature or a connection's local end.
  def local_address(sig_or_conn)
    packed = sig_or_conn.is_a?(Integer) ? EM.get_sockname(sig_or_conn) : sig_or_conn.get_sockname
    raise "no sockname for #{sig_or_conn.inspect}" unless packed
    Socket.unpack_sockaddr_in(packed)
  end

  def port_of(sig_or_conn) = local_address(sig_or_conn)[0]

  # Starts a server on an ephemeral loopback port; returns [signature, port].
  def start_server_on_free_port(handler = Echo, *args, host: HOST, &blk)
    sig = EM.start_server(host, 0, handler, *args, &blk)
    [sig, port_of(sig)]
  end

  # A loopback port where nothing listens and nothing else can bind: a bound,
  # non-listening socket holds it until the example ends. Connects get RST.
  def refused_port(host: HOST)
    sock = Socket.new(host.include?(":") ? :INET6 : :INET, :STREAM)
    sock.bind(Addrinfo.tcp(host, 0))
    held_sockets << sock
    sock.local_address.ip_port
  end

  # A listening port whose accept queue is full, so that a further connect
  # stays in SYN-SENT (the kernel drops its SYNs) until it times out.
  def black_hole_port
    listener = Socket.new(:INET, :STREAM)
    listener.bind(Addrinfo.tcp(HOST, 0))
    listener.listen(0)
    held_sockets << listener
    port = listener.local_address.ip_port
    4.times do
      s = Socket.new(:INET, :STREAM)
      held_sockets << s
      begin
        s.connect_nonblock(Addrinfo.tcp(HOST, port))
      rescue IO::WaitWritable, Errno::EINPROGRESS
        nil
      end
    end
    sleep 0.05
    port
  end

  def held_sockets = (@held_sockets ||= [])

  def close_held_sockets
    held_sockets.each do |s|
      s.close unless s.closed?
    rescue SystemCallError, IOError
      nil
    end
    held_sockets.clear
  end

  # A fresh directory for socket paths and files, removed after the example.
  def tmpdir = (@tmpdir ||= Dir.mktmpdir("em_conn"))

  def remove_tmpdir
    FileUtils.rm_rf(@tmpdir) if @tmpdir
    @tmpdir = nil
  end

  # Can this box bind ::1?
  def ipv6_loopback?
    return @ipv6_loopback if defined?(@ipv6_loopback)
    @ipv6_loopback = begin
      Socket.new(:INET6, :STREAM).tap { |s| s.bind(Addrinfo.tcp(HOST6, 0)) }.close
      true
    rescue SystemCallError, SocketError
      false
    end
  end

  def skip_without_ipv6
    skip("no IPv6 loopback (::1) on this box") unless ipv6_loopback?
  end

  # Deterministic pseudo-random bytes.
  def pattern_bytes(size, seed: 1) = Random.new(seed).bytes(size)
end

RSpec.configure do |config|
  config.include ConnectionHelpers, file_path: %r{spec/connections/}
  config.after(:each, file_path: %r{spec/connections/}) do
    close_held_sockets
    remove_tmpdir
  end
end
