# frozen_string_literal: true
require "spec_helper"
require "socket"
require "tmpdir"

# Every public module function of the real EventMachine exists on the
# implementation under test (the real list comes from a child that loads
# Debian's ruby-eventmachine; em_rust may define more, never fewer), and the
# signature-level functions gems call directly behave as EventMachine's: they
# return a signature and leave the Connection to the caller.
RSpec.describe "EventMachine's module functions (parity with the real gem)" do
  include ConnectionHelpers
  HOST = ConnectionHelpers::HOST

  def conns = EM.instance_variable_get(:@conns)
  def timers = EM.instance_variable_get(:@timers)

  # A Connection of `klass` made by hand under a signature no descriptor has:
  # what event_callback is fed in these examples (the real EM's C++ would
  # crash on a hand-made unbind of a live descriptor).
  def fake_connection(klass, sig = 900_000 + rand(99_999))
    conns[sig] = klass.new(sig)
    sig
  end

  describe "the list" do
    before(:all) do
      skip "the real eventmachine (ruby-eventmachine) is not installed" unless RealEM.installed?
      @real = RealEM.report('print "\nREPORT:", JSON.generate(EventMachine.singleton_methods.map(&:to_s).sort), "\n"')
    end

    it "the real gem's list is the real gem's (sanity)" do
      expect(@real).to include("run", "attach_fd", "event_callback", "add_oneshot_timer", "connect_server")
      expect(@real.size).to be > 100
    end

    it "every module function of the real EventMachine exists here" do
      missing = @real - EventMachine.singleton_methods.map(&:to_s)
      expect(missing).to eq([]), "missing from #{EM_IMPL}: #{missing.join(', ')}"
    end

    it "each takes the arguments the real one takes (arity)" do
      real_arity = RealEM.report(<<~RUBY)
        print "\\nREPORT:", JSON.generate(EventMachine.singleton_methods.to_h { |m| [m.to_s, EventMachine.method(m).arity] }), "\\n"
      RUBY
      checked = %w[attach_fd attach_sd add_oneshot_timer bind_connect_server connect_server connect_unix_server event_callback
                   invoke_popen open_udp_socket read_keyboard run_machine_without_threads set_effective_user setuid_string
                   watch_filename unwatch_filename watch_pid unwatch_pid watch_only? num_close_scheduled
                   get_simultaneous_accept_count set_simultaneous_accept_count]
      differ = checked.reject { |m| EventMachine.method(m).arity == real_arity.fetch(m) }
      expect(differ).to eq([])
      expect(EventMachine.method(:_open_file_for_writing).arity).to eq(real_arity.fetch("_open_file_for_writing"))
    end
  end

  describe "signature-level connections (the caller builds the Connection)" do
    it "attach_fd(fd, false): a signature; a Connection the caller stores in @conns gets the data and the unbind" do
      r, w = IO.pipe
      log = []
      handler = Class.new(EM::Connection) do
        define_method(:initialize) { |io| @io = io }
        define_method(:receive_data) { |d| log << d }
        define_method(:unbind) { log << :unbind; EM.stop }
      end
      run_em do
        sig = EM.attach_fd(r.fileno, false)
        expect(sig).to be_a(Integer)
        expect(EM.watch_only?(sig)).to be(false)
        conns[sig] = handler.new(sig, r)
        w.write("by hand")
        EM.add_timer(0.1) { w.close }
      end
      expect(log).to eq(["by hand", :unbind])
    ensure
      [r, w].each { |io| io.close unless io.closed? }
    end

    it "attach_fd(fd, true): a watch-only signature; notify_readable reaches the caller's Connection" do
      r, w = IO.pipe
      got = []
      handler = Class.new(EM::Connection) do
        define_method(:notify_readable) { got << :readable; detach; EM.stop }
      end
      run_em do
        sig = EM.attach_fd(r.fileno, true)
        expect(EM.watch_only?(sig)).to be(true)
        conn = handler.new(sig)
        conns[sig] = conn
        conn.notify_readable = true
        w.write("x")
      end
      expect(got).to eq([:readable])
      expect(r.closed?).to be(false) # watched descriptors are never closed by EM
    ensure
      [r, w].each { |io| io.close unless io.closed? }
    end

    it "rainbows' pattern: accept on a watched listener, attach_fd(io.fileno, false), Client.new(sig, io) into @conns" do
      server = TCPServer.new(HOST, 0)
      port = server.addr[1]
      client_class = Class.new(EM::Connection) do
        define_method(:initialize) { |io| @io = io }
        define_method(:receive_data) { |d| send_data("got #{d}"); close_connection_after_writing }
      end
      listener = Class.new(EM::Connection) do
        define_method(:notify_readable) do
          while (io = server.accept_nonblock(exception: false)) != :wait_readable
            sig = EM.attach_fd(io.fileno, false)
            EM.instance_variable_get(:@conns)[sig] = client_class.new(sig, io)
          end
        end
      end
      replies = Queue.new
      run_em do
        EM.watch(server, listener) { |c| c.notify_readable = true }
        3.times do |i|
          Thread.new do
            s = TCPSocket.new(HOST, port)
            s.write("req#{i}")
            replies << s.read
            s.close
          end
        end
        stop_when { replies.size == 3 }
      end
      expect(Array.new(3) { replies.pop }.sort).to eq(["got req0", "got req1", "got req2"])
    ensure
      server&.close
    end

    it "attach_sd(fd): accepts on an existing listening socket for the handler the caller puts in @acceptors" do
      server = TCPServer.new(HOST, 0)
      got = []
      handler = Class.new(EM::Connection) { define_method(:receive_data) { |d| got << d; EM.stop } }
      run_em do
        sig = EM.attach_sd(server.fileno)
        expect(sig).to be_a(Integer)
        EM.instance_variable_get(:@acceptors)[sig] = [handler, [], nil]
        Thread.new { TCPSocket.new(HOST, server.addr[1]).tap { |s| s.write("sd") }.close }
      end
      expect(got).to eq(["sd"])
    ensure
      begin
        server&.close
      rescue Errno::EBADF
        nil # the real EM closes an attached listener when its reactor ends
      end
    end

    it "connect_server / bind_connect_server: a signature now; connection_completed reaches the caller's Connection" do
      server = TCPServer.new(HOST, 0)
      log = []
      handler = Class.new(EM::Connection) do
        define_method(:connection_completed) { log << [:completed, Socket.unpack_sockaddr_in(get_sockname)[1]]; close_connection }
        define_method(:unbind) { log << :unbind; EM.stop if log.count(:unbind) == 2 }
      end
      run_em do
        plain = EM.connect_server(HOST, server.addr[1])
        bound = EM.bind_connect_server(HOST, 0, HOST, server.addr[1])
        expect([plain, bound]).to all(be_a(Integer))
        expect(plain).not_to eq(bound)
        [plain, bound].each { |sig| conns[sig] = handler.new(sig) }
      end
      expect(log.sort_by(&:to_s)).to eq([[:completed, HOST], [:completed, HOST], :unbind, :unbind].sort_by(&:to_s))
    ensure
      server&.close
    end

    it "connect_server: a name that does not resolve raises EM::ConnectionError; outside the reactor, RuntimeError" do
      expect { EM.connect_server(HOST, 1) }.to raise_error(RuntimeError, /not initialized/)
      run_em do
        expect { EM.connect_server("no-such-host.invalid", 80) }.to raise_error(EM::ConnectionError)
        expect { EM.bind_connect_server("192.0.2.1", 0, HOST, 1) }.to raise_error(EM::ConnectionError, /bind/)
        EM.stop
      end
    end

    it "connect_unix_server(path): a signature for a listening socket, RuntimeError for a path nothing listens on" do
      path = File.join(Dir.mktmpdir("em_parity"), "s.sock")
      server = UNIXServer.new(path)
      log = []
      handler = Class.new(EM::Connection) do
        define_method(:connection_completed) { log << :completed; close_connection }
        define_method(:unbind) { log << :unbind; EM.stop }
      end
      run_em do
        expect { EM.connect_unix_server(path + ".none") }.to raise_error(RuntimeError, "no connection")
        sig = EM.connect_unix_server(path)
        conns[sig] = handler.new(sig)
      end
      expect(log).to eq(%i[completed unbind])
    ensure
      server&.close
      FileUtils.rm_rf(File.dirname(path)) if path
    end

    it "open_udp_socket(host, port): a signature whose Connection receives datagrams; RuntimeError for a bad host" do
      got = nil
      handler = Class.new(EM::Connection) { define_method(:receive_data) { |d| got = d; EM.stop } }
      run_em do
        expect { EM.open_udp_socket("no-such-host.invalid", 0) }.to raise_error(RuntimeError, "no datagram socket")
        sig = EM.open_udp_socket(HOST, 0)
        conns[sig] = handler.new(sig)
        port = Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]
        UDPSocket.new.tap { |u| u.send("dgram", 0, HOST, port) }.close
      end
      expect(got).to eq("dgram")
    end

    it "invoke_popen(argv): EM's vector (program, argv[0], args...) gives a signature whose Connection reads the child" do
      out = +""
      handler = Class.new(EM::Connection) do
        define_method(:receive_data) { |d| out << d }
        define_method(:unbind) { EM.stop }
      end
      run_em do
        sig = EM.invoke_popen(["sh", "sh", "-c", "echo popen $0 $1", "zero", "one"])
        expect(sig).to be_a(Integer)
        conns[sig] = handler.new(sig)
      end
      expect(out).to eq("popen zero one\n")
    end

    it "read_keyboard: a signature for standard input", timeout: 15 do
      code = <<~RUBY
        $stdout.sync = true
        EM.run do
          sig = EM.read_keyboard
          EM.instance_variable_get(:@conns)[sig] = Class.new(EM::Connection) {
            # EM reads a keyboard a byte at a time: gather up to the newline.
            define_method(:receive_data) { |d| (@got ||= +"") << d; (puts "SIG=\#{sig.is_a?(Integer)} GOT=\#{@got.inspect}"; EM.stop) if @got.end_with?("\n") }
          }.new(sig)
        end
      RUBY
      out = IO.popen(ruby_argv(code), "r+", err: %i[child out]) do |io|
        io.write("typed\n")
        io.close_write
        io.read
      end
      expect(out).to include('SIG=true GOT="typed\n"')
    end
  end

  describe "timers" do
    it "add_oneshot_timer(ms): a signature; the callback the caller stores in @timers[sig] runs when it fires" do
      fired = []
      run_em do
        t0 = now
        sig = EM.add_oneshot_timer(30)
        expect(sig).to be_a(Integer)
        timers[sig] = -> { fired << [sig, now - t0]; EM.stop }
      end
      expect(fired.size).to eq(1)
      expect(fired[0][1]).to be >= 0.025
    end

    it "add_oneshot_timer with no callback stored: EM::UnknownTimerFired when it fires" do
      expect do
        EM.run do
          EM.add_oneshot_timer(1)
          EM.add_timer(1) { EM.stop }
        end
      end.to raise_error(EM::UnknownTimerFired, /no such timer/)
    end
  end

  describe "event_callback (EventMachine's Ruby-level dispatcher)" do
    let(:recorder) do
      log = (@log = [])
      Class.new(EM::Connection) do
        define_method(:receive_data) { |d| log << [:data, d] }
        define_method(:connection_completed) { log << :completed }
        define_method(:ssl_handshake_completed) { log << :handshake }
        define_method(:notify_readable) { log << :readable }
        define_method(:notify_writable) { log << :writable }
        define_method(:unbind) { |reason = nil| log << [:unbind, reason] }
      end
    end

    it "ConnectionData, ConnectionCompleted, SslHandshakeCompleted, NotifyReadable/Writable reach the Connection" do
      run_em do
        sig = fake_connection(recorder)
        EM.event_callback(sig, EM::ConnectionData, "payload")
        EM.event_callback(sig, EM::ConnectionCompleted, 0)
        EM.event_callback(sig, EM::SslHandshakeCompleted, 0)
        EM.event_callback(sig, EM::ConnectionNotifyReadable, 0)
        EM.event_callback(sig, EM::ConnectionNotifyWritable, 0)
        conns.delete(sig)
        EM.stop
      end
      expect(@log).to eq([[:data, "payload"], :completed, :handshake, :readable, :writable])
    end

    it "ConnectionUnbound: unbind with the errno's class (nil for 0), and the Connection leaves @conns" do
      run_em do
        a = fake_connection(recorder)
        b = fake_connection(recorder)
        EM.event_callback(a, EM::ConnectionUnbound, 0)
        EM.event_callback(b, EM::ConnectionUnbound, Errno::ECONNREFUSED::Errno)
        expect(conns.key?(a) || conns.key?(b)).to be(false)
        EM.stop
      end
      expect(@log).to eq([[:unbind, nil], [:unbind, Errno::ECONNREFUSED]])
    end

    it "ConnectionAccepted: builds the acceptor's handler with its args under the new signature, calls its block" do
      seen = []
      handler = Class.new(EM::Connection) { define_method(:initialize) { |arg| seen << [arg, signature] } }
      run_em do
        server = EM.start_server(HOST, 0, handler, :arg) { |c| seen << [:block, c.class] }
        conn = EM.event_callback(server, EM::ConnectionAccepted, 777_001)
        expect(conns[777_001]).to be_a(handler)
        expect(conn).to equal(conns[777_001])
        conns.delete(777_001)
        expect { EM.event_callback(123_456, EM::ConnectionAccepted, 777_002) }.to raise_error(EM::NoHandlerForAcceptedConnection)
        EM.stop
      end
      expect(seen).to eq([[:arg, 777_001], [:block, handler]])
    end

    it "SslVerify: ssl_verify_peer(data); false closes the connection" do
      verdicts = { 1 => true, 2 => false }
      got = []
      handler = Class.new(EM::Connection) do
        define_method(:ssl_verify_peer) { |pem| got << pem; verdicts.fetch(pem.size) }
        define_method(:close_connection) { |*| got << :closed }
      end
      run_em do
        sig = fake_connection(handler)
        EM.event_callback(sig, EM::SslVerify, "a")
        EM.event_callback(sig, EM::SslVerify, "bb")
        conns.delete(sig)
        EM.stop
      end
      expect(got).to eq(["a", "bb", :closed])
    end

    it "TimerFired: runs @timers[sig] and removes it; false there is a cancelled timer (nothing runs)" do
      fired = []
      run_em do
        timers[31_337] = -> { fired << :by_hand }
        EM.event_callback(0, EM::TimerFired, 31_337)
        expect(timers.key?(31_337)).to be(false)
        timers[4242] = false
        expect(EM.event_callback(0, EM::TimerFired, 4242)).to be_nil
        sig = EM.add_timer(5) { fired << :add_timer }
        expect(timers[sig]).to respond_to(:call) # where EM.add_timer keeps the callback, as in EM
        EM.cancel_timer(sig)
        EM.stop
      end
      expect(fired).to eq([:by_hand])
    end

    it "TimerFired for a pending reactor timer runs it once: the reactor does not fire it again",
       em_rust_only: "EM fires it again and raises UnknownTimerFired (no such timer)" do
      fired = 0
      run_em do
        sig = EM.add_timer(0.05) { fired += 1 }
        EM.event_callback(0, EM::TimerFired, sig)
        EM.add_timer(0.2) { EM.stop }
      end
      expect(fired).to eq(1)
    end

    it "LoopbreakSignalled runs the queued next_tick callbacks now" do
      order = []
      run_em do
        EM.next_tick { order << :tick }
        EM.event_callback(0, EM::LoopbreakSignalled, 0)
        order << :after
        EM.stop
      end
      expect(order).to eq(%i[tick after])
    end

    it "an event for an unknown signature raises ConnectionNotBound (UnknownTimerFired for a timer); an unknown opcode is ignored" do
      run_em do
        [EM::ConnectionData, EM::ConnectionUnbound, EM::ConnectionCompleted, EM::SslHandshakeCompleted, EM::SslVerify,
         EM::ConnectionNotifyReadable, EM::ConnectionNotifyWritable].each do |op|
          expect { EM.event_callback(4_242_424, op, "x") }.to raise_error(EM::ConnectionNotBound), "opcode #{op}"
        end
        expect { EM.event_callback(4_242_424, EM::ConnectionData, "x") }
          .to raise_error(EM::ConnectionNotBound, "received data x for unknown signature: 4242424")
        expect { EM.event_callback(0, EM::TimerFired, 4_242_424) }.to raise_error(EM::UnknownTimerFired, "timer data: 4242424")
        expect(EM.event_callback(1, 999, 0)).to be_nil
        EM.stop
      end
    end
  end

  describe "watches" do
    it "watch_filename(path) / unwatch_filename(sig): modifications reach the FileWatch the caller registers; unwatch unbinds it" do
      dir = Dir.mktmpdir("em_parity")
      path = File.join(dir, "watched")
      File.write(path, "")
      log = []
      handler = Class.new(EM::FileWatch) do
        define_method(:file_modified) { log << :modified; EM.unwatch_filename(signature) }
        define_method(:unbind) { log << :unbind; EM.stop }
      end
      run_em do
        sig = EM.watch_filename(path)
        expect(sig).to be_a(Integer)
        conns[sig] = handler.new(sig)
        EM.add_timer(0.05) { File.write(path, "changed") }
      end
      expect(log).to eq(%i[modified unbind])
    ensure
      FileUtils.rm_rf(dir) if dir
    end

    it "watch_filename: a missing file raises EM::Unsupported" do
      run_em do
        expect { EM.watch_filename("/nonexistent/em_parity") }.to raise_error(EM::Unsupported, /No such file or directory/)
        EM.stop
      end
    end

    it "watch_pid on Linux: EventMachine raises EM::Unsupported (it watches pids only with kqueue)",
       real_em_only: "em_rust watches pids with a pidfd" do
      pid = Process.spawn("sleep", "0.1")
      run_em do
        expect { EM.watch_pid(pid) }.to raise_error(EM::Unsupported)
        EM.stop
      end
    ensure
      Process.wait(pid) rescue nil # rubocop:disable Style/RescueModifier
    end

    it "watch_pid(pid): a signature whose ProcessWatch sees the exit",
       em_rust_only: "real EM watches pids only with kqueue: EM::Unsupported on Linux" do
      pid = Process.spawn("sleep", "0.3")
      exited = false
      run_em do
        sig = EM.watch_pid(pid)
        expect(sig).to be_a(Integer)
        watch = Class.new(EM::ProcessWatch) { define_method(:process_exited) { exited = true; EM.stop } }.allocate
        watch.instance_variable_set(:@signature, sig)
        watch.instance_variable_set(:@pid, pid)
        conns[sig] = watch
      end
      expect(exited).to be(true)
    ensure
      Process.wait(pid) rescue nil # rubocop:disable Style/RescueModifier
    end

    it "watch_only?(sig): true for a watch, false for an attach, true (as in EM) for a signature the reactor does not know" do
      r, w = IO.pipe
      run_em do
        watched = EM.watch(r)
        attached = EM.attach(w)
        expect(EM.watch_only?(watched.signature)).to be(true)
        expect(EM.watch_only?(attached.signature)).to be(false)
        expect(EM.watch_only?(987_654_321)).to be(true)
        watched.detach
        attached.detach
        EM.stop
      end
    ensure
      [r, w].each { |io| io.close unless io.closed? }
    end
  end

  describe "the rest" do
    it "run_machine_without_threads is the reactor loop (EM.run's, under its EM 1.2 name)" do
      ran = false
      EM.run { EM.stop } # the real EM sets up its Ruby-side state (@timers) in EM.run
      EM.initialize_event_machine
      begin
        EM.add_timer(0.01) { ran = true; EM.stop }
        EM.run_machine_without_threads
      ensure
        EM.release_machine
      end
      expect(ran).to be(true)
    end

    it "setuid_string / set_effective_user: an unknown user ends the program (a fatal error, as in EM); a non-String is a TypeError" do
      expect { EM.setuid_string(5) }.to raise_error(TypeError)
      %w[setuid_string set_effective_user].each do |function|
        code = <<~RUBY
          $stdout.sync = true
          begin
            EM.#{function}("no_such_user_em_parity")
          rescue Exception => e
            puts "RESCUED \#{e.class}"
          end
          puts "CONTINUED"
        RUBY
        r = run_command(ruby_argv(code), timeout: 10)
        expect(r.success?).to be_falsey, function # EM: abort() (SIGABRT); em_rust: exit!(1)
        expect(r.output).to include("setuid_string failed: unknown username")
        expect(r.output).not_to include("CONTINUED")
      end
    end

    it "setuid_string(name) as root: the process takes that user's uid (in a forked child)" do
      skip "needs root" unless Process.uid.zero?
      entry = Etc.getpwnam("nobody")
      rd, wr = IO.pipe
      pid = fork do
        rd.close
        EM.set_effective_user("nobody")
        wr.write([Process.uid, Process.euid].join(","))
        exit!(0)
      end
      wr.close
      Process.wait(pid)
      expect(rd.read).to eq("#{entry.uid},#{entry.uid}")
    end

    it "_open_file_for_writing raises NoMethodError (EventMachine's C++ has no file writer behind it) and writes nothing" do
      path = File.join(Dir.mktmpdir("em_parity"), "never")
      run_em do
        expect { EM._open_file_for_writing(path) }.to raise_error(NoMethodError, /_write_file/)
        EM.stop
      end
      expect(File.exist?(path)).to be(false)
    end
  end
end
