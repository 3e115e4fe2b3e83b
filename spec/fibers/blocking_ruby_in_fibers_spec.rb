# frozen_string_literal: true
require "spec_helper"
require "net/http"
require "socket"
require "timeout"

# Blocking Ruby the way applications write it, in fibers on the reactor: many
# Net::HTTP calls overlap, Timeout.timeout interrupts while timers keep time,
# IO.popen and UNIXSocket.pair, IO#close of an IO a fiber waits on, fork.
RSpec.describe "blocking Ruby in fibers on the reactor", em_rust_only: "EventMachine has no fiber scheduler" do
  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # An HTTP server on the reactor answering every request after 50 ms.
  module SlowAnswer
    def receive_data(data)
      (@request ||= +"") << data
      return unless @request.include?("\r\n\r\n")

      EM.add_timer(0.05) do
        send_data("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        close_connection_after_writing
      end
    end
  end

  it "200 fibers doing Net::HTTP against a 50 ms server on the same reactor overlap (well under 2 s, 10 s in a row)" do
    bodies = []
    took = nil
    run_em(20) do
      port = EM.start_server("127.0.0.1", 0, SlowAnswer).then { |sig| Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first }
      t0 = now
      200.times do
        EM.fiber do
          bodies << Net::HTTP.get(URI("http://127.0.0.1:#{port}/"))
          if bodies.size == 200
            took = now - t0
            EM.stop
          end
        end
      end
    end
    expect(bodies).to eq(["ok"] * 200)
    expect(took).to be < 2.0
  end

  it "Timeout.timeout interrupts a sleeping and a waiting fiber while a periodic timer keeps its schedule" do
    ticks = []
    results = {}
    run_em(5) do
      EM.add_periodic_timer(0.01) { ticks << now }
      t0 = now
      { sleeping: -> { sleep 5 }, waiting: -> { Thread::Queue.new.pop } }.each do |name, body|
        EM.fiber do
          Timeout.timeout(0.1) { body.call }
        rescue Timeout::Error => e
          results[name] = [e.class, now - t0]
        end
      end
      EM.add_timer(0.25) { EM.stop }
    end
    expect(results.keys).to contain_exactly(:sleeping, :waiting)
    results.each_value do |klass, at|
      expect(klass).to eq(Timeout::Error)
      expect(at).to be_between(0.09, bound(0.2))
    end
    expect(ticks.size).to be >= 15
    expect(ticks.each_cons(2).map { |a, b| b - a }.max).to be < bound(0.08) # a loop held by the sleeps: >= 0.1
  end

  it "IO.popen: a child's output read in a fiber, its exit status set, the loop going on meanwhile" do
    out = status = nil
    ticks = 0
    run_em(10) do
      EM.add_periodic_timer(0.01) { ticks += 1 }
      EM.fiber do
        out = IO.popen([RbConfig.ruby, "-e", "sleep 0.2; print 'from the child'"], &:read)
        status = $?
        EM.stop
      end
    end
    expect(out).to eq("from the child")
    expect(status).to be_success
    expect(ticks).to be >= 10
  end

  it "UNIXSocket.pair: 1 MiB each way between two fibers" do
    payload = Random.new(2).bytes(1024 * 1024)
    got = {}
    run_em(10) do
      a, b = UNIXSocket.pair
      [[a, :a], [b, :b]].each do |sock, name|
        EM.fiber do
          Fiber.schedule { sock.write(payload); sock.close_write }
          got[name] = sock.read
          EM.stop if got.size == 2
        end
      end
    end
    expect(got.transform_values(&:bytesize)).to eq(a: payload.bytesize, b: payload.bytesize)
    expect(got.values.all? { |data| data == payload }).to be(true)
  end

  it "IO#close of an IO a fiber waits on wakes it with IOError (closed by another fiber or another thread)" do
    errors = {}
    run_em(5) do
      pipes = { fiber: IO.pipe, thread: IO.pipe }
      pipes.each do |name, (r, _w)|
        EM.fiber do
          r.read(1)
          errors[name] = :read_returned
        rescue IOError => e
          errors[name] = e.message
          EM.stop if errors.size == 2
        end
      end
      EM.add_timer(0.03) { pipes[:fiber][0].close }
      EM.add_timer(0.06) { Thread.new { pipes[:thread][0].close }.join }
    end
    expect(errors).to eq(fiber: "stream closed in another thread", thread: "stream closed in another thread")
  end

  it "a socket a fiber has waited on can be EM.attach'ed at once (the fiber's watch of it gives way)" do
    got = nil
    run_em(5) do
      port = EM.start_server("127.0.0.1", 0, Module.new { def receive_data(d) = send_data(d.upcase) })
                .then { |sig| Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first }
      EM.fiber do
        sock = TCPSocket.new("127.0.0.1", port)
        sock.write("first")
        first = sock.readpartial(5) # waits on the reactor: the fiber's watch of the fd
        EM.attach(sock, Module.new do
          define_method(:receive_data) do |data|
            got = [first, data]
            EM.stop
          end
        end).send_data("second")
      end
    end
    expect(got).to eq(%w[FIRST SECOND])
  end

  it "fork in a fiber: the child has no scheduler (blocking calls block there), the parent's fiber waits for it" do
    report = status = nil
    run_em(10) do
      EM.fiber do
        r, w = IO.pipe
        pid = fork do
          r.close
          t0 = now
          sleep 0.05
          w.write([Fiber.scheduler.nil?, EM.reactor_running?, now - t0 >= 0.05].inspect)
          w.close
          exit!(0)
        end
        w.close
        report = r.read
        status = Process.wait2(pid).last
        EM.stop
      end
    end
    expect(report).to eq("[true, false, true]")
    expect(status).to be_success
  end
end
