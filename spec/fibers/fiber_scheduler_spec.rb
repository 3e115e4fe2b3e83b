# frozen_string_literal: true
require "spec_helper"
require "net/http"
require "socket"

# Blocking Ruby code in a fiber on the reactor suspends the fiber, not the loop:
# a periodic timer keeps ticking while fibers sleep, read, pop queues, wait for
# children and resolve names.
RSpec.describe "EM::FiberScheduler inside EM.run", em_rust_only: "EventMachine has no fiber scheduler" do
  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Runs the block in EM.fiber with a 10 ms ticker; stops when the fiber ends.
  # Returns [the block's value, ticks while it ran].
  def in_fiber(limit = 5, &blk)
    value = nil
    ticks = 0
    run_em(limit) do
      EM.add_periodic_timer(0.01) { ticks += 1 }
      EM.fiber do
        value = blk.call
      ensure
        EM.stop
      end
    end
    [value, ticks]
  end

  it "gives the reactor thread a non-blocking scheduler for the run only" do
    inside = nil
    run_em { inside = Fiber.scheduler; EM.stop }
    expect(inside).to be_a(EM::FiberScheduler)
    expect(Fiber.scheduler).to be_nil
  end

  it "EM.fiber returns the Fiber, started at once, non-blocking" do
    order = []
    fiber = nil
    run_em do
      fiber = EM.fiber { order << :in_fiber; expect(Fiber.current.blocking?).to be(false) }
      order << :after
      EM.stop
    end
    expect(fiber).to be_a(Fiber)
    expect(order).to eq(%i[in_fiber after])
  end

  it "sleep suspends the fiber while timers go on" do
    t0 = now
    _, ticks = in_fiber { sleep 0.2 }
    expect(now - t0).to be_between(0.19, bound(1.0))
    expect(ticks).to be >= 10
  end

  it "a pipe read waits on the reactor; a write from a timer wakes it" do
    got, ticks = in_fiber do
      r, w = IO.pipe
      EM.add_timer(0.1) { w.write("line\n") }
      [r.gets, r.close, w.close].first
    end
    expect(got).to eq("line\n")
    expect(ticks).to be >= 5
  end

  it "IO#read of a large pipe payload written by another fiber arrives whole" do
    payload = Random.new(1).bytes(1 << 20)
    got, = in_fiber do
      r, w = IO.pipe
      EM.fiber { w.write(payload); w.close }
      r.binmode.read.tap { r.close }
    end
    expect(got.bytesize).to eq(payload.bytesize)
    expect(got == payload).to be(true)
  end

  it "a TCP client and server in two fibers talk (accept, connect, read, write)" do
    got, = in_fiber do
      server = TCPServer.new("127.0.0.1", 0)
      EM.fiber do
        c = server.accept
        c.write(c.readpartial(100).upcase)
        c.close
      end
      client = TCPSocket.new("127.0.0.1", server.addr[1])
      client.write("hello")
      client.read.tap { client.close; server.close }
    end
    expect(got).to eq("HELLO")
  end

  it "Net::HTTP against an EM HTTP server on the same reactor" do
    body = nil
    run_em(5) do
      server = Module.new do
        def receive_data(_data)
          send_data("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
          close_connection_after_writing
        end
      end
      sig = EM.start_server("127.0.0.1", 0, server)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first
      EM.fiber do
        body = Net::HTTP.get(URI("http://127.0.0.1:#{port}/"))
      ensure
        EM.stop
      end
    end
    expect(body).to eq("hello")
  end

  it "Queue#pop waits for a push from another thread" do
    got, ticks = in_fiber do
      q = Queue.new
      Thread.new { sleep 0.1; q << :pushed }
      q.pop
    end
    expect(got).to eq(:pushed)
    expect(ticks).to be >= 5
  end

  it "a Mutex held by a sleeping fiber blocks only the other fiber" do
    order = []
    in_fiber do
      m = Mutex.new
      a = EM.fiber { m.synchronize { order << :a_in; sleep 0.05; order << :a_out } }
      m.synchronize { order << :b_in }
      order << :b_done
      a
    end
    expect(order).to eq(%i[a_in a_out b_in b_done])
  end

  it "Thread#join and ConditionVariable#wait with a timeout" do
    got, = in_fiber do
      t = Thread.new { sleep 0.05; :joined }
      m = Mutex.new
      cv = ConditionVariable.new
      t0 = now
      m.synchronize { cv.wait(m, 0.05) }
      [t.value, now - t0]
    end
    expect(got[0]).to eq(:joined)
    expect(got[1]).to be_between(0.04, bound(1.0))
  end

  it "Timeout.timeout raises Timeout::Error in the fiber and the loop goes on" do
    got, ticks = in_fiber do
      Timeout.timeout(0.05) { sleep 5 }
    rescue Timeout::Error => e
      e
    end
    expect(got).to be_a(Timeout::Error)
    expect(ticks).to be_between(2, 50)
  end

  it "Timeout.timeout that does not expire returns the block's value" do
    got, = in_fiber { Timeout.timeout(1) { sleep 0.01; :value } }
    expect(got).to eq(:value)
  end

  it "Process.wait reaps a child without blocking the loop, with its status" do
    got, ticks = in_fiber do
      pid = Process.spawn("sh", "-c", "sleep 0.1; exit 3")
      Process.wait(pid)
      $?.exitstatus
    end
    expect(got).to eq(3)
    expect(ticks).to be >= 5
  end

  it "Process.wait2(-pgid) waits for any child of a group (on the defer pool)" do
    got, = in_fiber do
      pid = Process.spawn("sh", "-c", "sleep 0.05; exit 4", pgroup: true)
      Process.wait2(-pid).then { |p, s| [p == pid, s.exitstatus] }
    end
    expect(got).to eq([true, 4])
  end

  it "name resolution runs off the reactor and gives the system's addresses" do
    got, = in_fiber { Addrinfo.getaddrinfo("localhost", 80, :INET, :STREAM).map(&:ip_address) }
    expect(got).to include("127.0.0.1")
    numeric, = in_fiber { TCPServer.new("127.0.0.1", 0).then { |s| [s.addr[3], s.close].first } }
    expect(numeric).to eq("127.0.0.1")
  end

  it "IO#wait with a timeout returns nil when nothing arrives" do
    got, = in_fiber do
      r, w = IO.pipe
      [r.wait_readable(0.05), r.close, w.close].first
    end
    expect(got).to be_nil
  end

  it "an exception in a fiber reaches EM.run, as a callback's does" do
    expect do
      run_em { EM.fiber { sleep 0.01; raise ArgumentError, "from the fiber" } }
    end.to raise_error(ArgumentError, "from the fiber")
  end

  it "an exception in a fiber goes to EM.error_handler and the loop goes on" do
    errors = []
    EM.error_handler { |e| errors << e.message }
    run_em do
      EM.fiber { sleep 0.01; raise "handled" }
      EM.add_timer(0.1) { EM.stop }
    end
    expect(errors).to eq(["handled"])
  ensure
    EM.error_handler(nil)
  end

  it "EM.stop ends suspended fibers: their ensure blocks run, nothing leaks" do
    ensured = []
    threads = Thread.list.size
    3.times do
      run_em do
        5.times do |i|
          EM.fiber do
            sleep 10
          ensure
            ensured << i
          end
        end
        EM.fiber { IO.pipe.first.read }
        EM.add_timer(0.05) { EM.stop }
      end
    end
    expect(ensured.size).to eq(15)
    expect(Thread.list.size).to be <= threads + 1 # the defer pool may have started
    expect(Fiber.scheduler).to be_nil
  end

  it "a fiber that rescues everything still ends at EM.stop" do
    rounds = 0
    run_em do
      EM.fiber do
        loop do
          sleep 10
        rescue StandardError
          rounds += 1
        end
      end
      EM.add_timer(0.02) { EM.stop }
    end
    expect(rounds).to eq(0)
  end

  it "plain Fiber.new fibers (em-synchrony's kind) keep blocking as without a scheduler" do
    order = []
    run_em do
      f = Fiber.new { sleep 0.05; order << :plain_fiber }
      EM.next_tick { order << :tick }
      f.resume
      order << :after_resume
      EM.add_timer(0.01) { EM.stop }
    end
    expect(order).to eq(%i[plain_fiber after_resume tick])
  end

  it "a Queue#pop in a plain Fiber.new blocks the thread until another thread pushes, however early the push" do
    got = []
    run_em do
      20.times do
        q = Thread::Queue.new
        pusher = Thread.new { q << :pushed } # may push before the fiber waits, or while it does
        got << Fiber.new { q.pop }.resume
        pusher.join
      end
      EM.stop
    end
    expect(got).to eq([:pushed] * 20)
  end

  it "two IO objects on one socket (a dup'd IO) wait on the same fd, and both wake" do
    woke = []
    run_em do
      a, b = UNIXSocket.pair
      twin = IO.for_fd(a.fileno, autoclose: false)
      [a, twin].each_with_index { |io, i| EM.fiber { io.wait_readable; woke << i; EM.stop if woke.size == 2 } }
      EM.add_timer(0.02) { b.write("x") }
    end
    expect(woke.sort).to eq([0, 1])
  end

  it "EM.fiber outside the reactor raises" do
    expect { EM.fiber { nil } }.to raise_error(RuntimeError, /not running/)
  end
end

RSpec.describe "EM::FiberScheduler stand-alone", em_rust_only: "EventMachine has no fiber scheduler" do
  it "Fiber.schedule'd fibers run when the thread ends (Ruby's convention)" do
    result = run_ruby(<<~RUBY)
      out = []
      Thread.new do
        Fiber.set_scheduler(EM::FiberScheduler.new)
        3.times { |i| Fiber.schedule { sleep 0.05 * (3 - i); out << i } }
        Fiber.schedule do
          r, w = IO.pipe
          Fiber.schedule { sleep 0.01; w.puts "piped" }
          out << r.gets.chomp
        end
      end.join
      puts out.inspect, EM.reactor_running?
    RUBY
    expect(result.output).to eq(%(["piped", 2, 1, 0]\nfalse\n))
  end

  it "scheduler.run runs the loop until no scheduled fiber is left" do
    result = run_ruby(<<~RUBY)
      s = EM::FiberScheduler.new
      Fiber.set_scheduler(s)
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      Fiber.schedule { sleep 0.1 }
      Fiber.schedule { sleep 0.1 }
      s.run
      puts (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0).between?(0.09, 0.5)
      Fiber.set_scheduler(nil)
    RUBY
    expect(result.output).to eq("true\n")
  end

  it "a stand-alone scheduler's fibers run beside EM code in a later EM.run" do
    result = run_ruby(<<~RUBY)
      Fiber.set_scheduler(EM::FiberScheduler.new)
      got = nil
      Fiber.schedule { sleep 0.05; got = :slept }
      EM.run { EM.add_timer(0.1) { EM.stop } }
      puts got.inspect
      Fiber.set_scheduler(nil)
    RUBY
    expect(result.output).to eq(":slept\n")
  end
end
