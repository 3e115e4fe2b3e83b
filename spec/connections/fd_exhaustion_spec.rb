# frozen_string_literal: true
require "spec_helper"

# A server that runs out of file descriptors while clients keep arriving. The
# server is a child process whose RLIMIT_NOFILE leaves room for about 20 more
# descriptors; this process opens 60 connections to it. A 10 ms periodic timer keeps
# the loop busy: the starved listener's retry must not be postponed by every turn.
RSpec.describe "accepting while out of file descriptors", timeout: 40 do
  def server_program = <<~'RUBY'
    require "socket"
    $stdout.sync = true
    server = Class.new(EM::Connection) do
      define_method(:receive_data) { |d| send_data("pong #{d}") }
    end
    cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
    wall = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
    EM.run do
      sig = EM.start_server("127.0.0.1", 0, server)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]
      # The lowest limit that leaves 20 descriptor numbers free.
      used = Dir.children("/proc/self/fd").map(&:to_i)
      limit = 0
      free = 0
      while free < 20
        free += 1 unless used.include?(limit)
        limit += 1
      end
      soft, hard = Process.getrlimit(:NOFILE)
      Process.setrlimit(:NOFILE, limit, hard)
      # SIGUSR1 frees descriptors: the limit goes back up.
      trap("USR1") { Process.setrlimit(:NOFILE, soft) }
      puts "port #{port}"
      last = [cpu.call, wall.call]
      EM.add_periodic_timer(0.5) do
        now = [cpu.call, wall.call]
        puts format("cpu %.3f", (now[0] - last[0]) / (now[1] - last[1]))
        last = now
      end
      EM.add_periodic_timer(0.01) {}
      EM.add_timer(30) { EM.stop }
    end
  RUBY

  def clients = 60

  # Reads replies from `socks` into `replies` until none has come for `quiet` s.
  def collect_replies(socks, replies, quiet:, limit:)
    deadline = now + limit
    last_progress = now
    while now < deadline && now - last_progress < quiet
      waiting = socks.reject { |s| replies[s] }
      break if waiting.empty?
      ready, = IO.select(waiting, nil, nil, 0.05)
      (ready || []).each do |s|
        replies[s] = s.read_nonblock(100, exception: false)
        last_progress = now
      end
    end
  end

  # Starts the server, connects clients sockets, waits until serving stalls.
  # Yields (child, replies, socks) at the stall, then lets the server raise its
  # limit again and returns the replies once everything settled.
  def exhaust
    child = spawn_ruby(server_program)
    port = Integer(child.wait_for(/port (\d+)/, timeout: bound(10))[1])
    socks = Array.new(clients) do |i|
      TCPSocket.new("127.0.0.1", port).tap do |s|
        held_sockets << s
        s.write(i.to_s)
      end
    end
    replies = {}
    collect_replies(socks, replies, quiet: 1.0, limit: bound(6))
    served = socks.select { |s| replies[s] }
    expect(served.size).to be_between(1, clients - 1), "expected the server to run out of descriptors part way (served #{served.size})"
    yield child, replies, socks if block_given?
    child.signal("USR1")
    freed = now
    collect_replies(socks - served, replies, quiet: bound(4), limit: bound(8))
    @catch_up = now - freed
    replies
  ensure
    child&.kill!
  end

  it "serves the connections that waited once descriptors are free again" do
    replies = exhaust
    expect(replies.size).to eq(clients)
    expect(replies.values.sort).to eq(Array.new(clients) { |i| "pong #{i}" }.sort)
    expect(@catch_up).to be < bound(1.0)
  end

  it "does not spin while it cannot accept",
     em_rust_only: "real EM retries the failing accept in a busy loop (about half a CPU here) until a descriptor is free" do
    exhaust do |child, _replies, _socks|
      # The child prints only "port N" and then a "cpu F" line every 0.5 s:
      # wait for two more lines and read them.
      seen = child.output.lines.size
      child.wait_for(/\A(?:[^\n]*\n){#{seen + 2}}/, timeout: bound(5))
      samples = child.output.lines[seen, 2].map { |l| Float(l[/cpu ([\d.]+)/, 1]) }
      expect(samples.size).to eq(2), child.output
      expect(samples).to all(be < 0.1)
    end
  end
end
