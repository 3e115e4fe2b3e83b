# frozen_string_literal: true
# The reactor's own entry points under `rake spec:gc_stress` (GC.stress = true
# around each example), with small counts, to prove the glue keeps every Ruby
# object it holds alive and never allocates while a marked borrow is held:
# run/stop/rerun, stopping?, next_tick before and during run, timers (add,
# cancel, EM::Timer, periodic, get_timer_count, current_time, heartbeat), other
# threads (schedule, next_tick, signal_loopbreak), defer with callback and
# errback (JobQueue, JobWaiter), callback errors to the error handler or out of
# EM.run, TCP basics (connect, accept, peername, pause/resume, close, unbind,
# ECONNREFUSED, ConnectionError), Unix sockets, UDP, EM.watch; em_rust only:
# run_machine_once, EM.stats, the Machine's accept count, a JobQueue alone.
# spec/gc/README.md maps every native entry point to the file that reaches it.
require_relative "preload"
require "socket"
require "tmpdir"

RSpec.describe "native entry points (the GC.stress subset)", :gc_stress do
  it "runs, stops and reruns the reactor; next_tick before and during run; stopping?" do
    seen = []
    EM.next_tick { seen << :pre }
    EM.run do
      seen << EM.stopping?
      EM.next_tick { seen << :tick; EM.next_tick(proc { seen << :proc_tick; EM.stop }) }
    end
    EM.run { EM.stop }
    expect(seen).to eq([false, :pre, :tick, :proc_tick])
  end

  it "adds, fires, cancels and counts timers; periodic timers; current_time; heartbeat" do
    fired = []
    done = proc { EM.stop if (%i[a timer_obj periodic] - fired).empty? }
    EM.run do
      EM.add_timer(0.001) { fired << :a; done.call }
      sig = EM.add_timer(0.002) { fired << :cancelled }
      EM.cancel_timer(sig)
      EM::Timer.new(0.002) { fired << :timer_obj; done.call }
      EM::Timer.new(60) { fired << :never }.cancel
      count = 0
      periodic = EM.add_periodic_timer(0.001) do
        next unless (count += 1) == 2
        fired << :periodic
        periodic.cancel
        done.call
      end
      fired << EM.get_timer_count.class << EM.current_time.class
      EM.heartbeat_interval = 0.5
      EM.add_timer(60) { EM.stop } # a bound only: the work above stops the loop
    end
    # The run block's own entries, then the 1 ms timer; the 2 ms one and the
    # periodic timer's second firing may be due together.
    expect(fired.first(3)).to eq([Integer, Time, :a])
    expect(fired.drop(3)).to contain_exactly(:timer_obj, :periodic)
  end

  it "wakes from other threads (schedule, next_tick, stop) and runs defer with callbacks and errbacks" do
    results = []
    done = proc { EM.stop if results.size == 4 }
    EM.run do
      EM.defer(proc { 21 * 2 }, proc { |v| results << v; done.call })
      EM.defer(proc { raise ArgumentError, "x" }, nil, proc { |e| results << e.class; done.call })
      Thread.new { EM.schedule { results << :scheduled; done.call } }
      Thread.new { EM.next_tick { results << :threaded; done.call } }
    end
    expect(results).to contain_exactly(42, ArgumentError, :scheduled, :threaded) # four threads: any order
  end

  it "routes callback exceptions to the error handler, and re-raises without one" do
    got = nil
    EM.error_handler { |e| got = e; EM.stop }
    EM.run { EM.next_tick { raise "handled" } }
    EM.error_handler(nil)
    expect(got.message).to eq("handled")
    expect { EM.run { EM.add_timer(0) { raise "unhandled" } } }.to raise_error(RuntimeError, "unhandled")
  end

  it "serves TCP: accept, connect, send, receive, peername/sockname, pause/resume, close, unbind" do
    log = []
    server = Module.new do
      define_method(:receive_data) { |data| send_data(data.upcase) }
    end
    client = Class.new(EM::Connection) do
      define_method(:initialize) { |l| @log = l }
      define_method(:connection_completed) do
        @log << Socket.unpack_sockaddr_in(get_peername).last
        pause
        resume
        @log << paused?
        send_data(:pi) # Connection#send_data, a Symbol's to_s
        EM.send_data(signature, "ng", 2) # the signature-level form; both written together
      end
      define_method(:receive_data) { |data| @log << data; close_connection_after_writing }
      define_method(:unbind) { |reason = nil| @log << [:unbind, reason]; EM.stop }
    end
    EM.run do
      sig = EM.start_server("127.0.0.1", 0, server)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first
      EM.connect("127.0.0.1", port, client, log)
    end
    expect(log).to eq(["127.0.0.1", false, "PING", [:unbind, nil]])
  end

  it "reports a refused connect as unbind(Errno::ECONNREFUSED), and bad names as ConnectionError" do
    reason = :none
    handler = Class.new(EM::Connection) { define_method(:unbind) { |r| reason = r; EM.stop } }
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
    EM.run { EM.connect("127.0.0.1", port, handler) }
    expect(reason).to eq(Errno::ECONNREFUSED)
    expect { EM.run { EM.connect("no-such-host.invalid", 80) } }.to raise_error(EM::ConnectionError)
  end

  it "serves Unix sockets and UDP, and watches and attaches IOs" do
    log = []
    log.define_singleton_method(:<<) { |x| super(x).tap { EM.stop if size == 3 } }
    Dir.mktmpdir do |dir|
      path = File.join(dir, "s.sock")
      rd, wr = IO.pipe
      EM.run do
        EM.start_unix_domain_server(path, Module.new { define_method(:receive_data) { |d| send_data(d) } })
        EM.connect_unix_domain(path, Module.new do
          define_method(:connection_completed) { send_data("unix") }
          define_method(:receive_data) { |d| log << d; close_connection }
        end)
        udp = EM.open_datagram_socket("127.0.0.1", 0, Module.new { define_method(:receive_data) { |d| log << d } })
        port = Socket.unpack_sockaddr_in(udp.get_sockname).first
        UDPSocket.new.send("udp", 0, "127.0.0.1", port)
        EM.watch(rd, Module.new { define_method(:notify_readable) { log << :readable; detach } }).notify_readable = true
        wr.write("x")
        EM.add_timer(60) { EM.stop }
      end
      rd.close
      wr.close
    end
    expect(log).to contain_exactly("unix", "udp", :readable) # three sources: any order
  end

  it "signal_loopbreak from another thread wakes the reactor for the tick that thread queued" do
    seen = []
    run_em(5, what: "the woken tick") do
      Thread.new do
        EM.next_tick { seen << :woken; EM.stop }
        EM.signal_loopbreak
      end
    end
    expect(seen).to eq([:woken])
  end

  it "the binding-level turn (run_machine_once), EM.stats, the Machine's own accept count, a JobQueue alone",
     em_rust_only: "EM.run_machine_once needs the state EM.run sets up in EM; EM has no EM.stats" do
    seen = []
    EM.initialize_event_machine
    begin
      EM.add_timer(0) { seen << :timer }
      EM.next_tick { seen << :tick }
      seen << EM.run_machine_once
      stats = EM.stats
      seen << stats[:turns] << stats[:descriptors][:stream] << stats[:running]
      seen << EM.instance_variable_get(:@machine).simultaneous_accept_count.class
    ensure
      EM.release_machine
    end
    queue = EM::JobQueue.new # the defer pool's token channel, on its own
    seen << queue.push << queue.size
    queue.close
    seen << queue.push
    expect(seen).to eq([:timer, :tick, true, 1, 0, true, Integer, true, 1, false])
  end
end
