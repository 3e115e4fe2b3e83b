# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.attach, EM.watch and EM.attach_server" do
  def io_pair(kind)
    pair = kind == :pipe ? IO.pipe : UNIXSocket.pair
    held_sockets.concat(pair)
    pair
  end

  describe "EM.attach" do
    it "makes a pipe's read end a connection: receive_data gets what is written, unbind(nil) follows EOF, then EM closes the IO" do
      log = []
      r, w = io_pair(:pipe)
      handler = Class.new(EM::Connection) do
        define_method(:initialize) { |*args| log << [:initialize, args] }
        define_method(:receive_data) { |d| log << [:data, d, d.encoding] }
        define_method(:unbind) { |reason| log << [:unbind, reason, r.closed?] }
      end
      conn = nil
      run_em do
        conn = EM.attach(r, handler, :arg) { |c| log << [:block, c.class] }
        expect(conn.watch_only?).to be(false)
        w.write("through the pipe")
        EM.add_timer(0.1) { w.close }
        stop_when { log.last&.first == :unbind }
      end
      expect(log).to eq([[:initialize, [:arg]], [:block, handler], [:data, "through the pipe", Encoding::ASCII_8BIT],
                         [:unbind, nil, false]])
      expect(r.closed?).to be(true)
    end

    it "reads every line waiting on an attached terminal (a tty read returns one line at a time)" do
      require "pty"
      master, slave = PTY.open
      got = []
      handler = Class.new(EM::Connection) { define_method(:receive_data) { |d| got << d } }
      run_em do
        EM.attach(slave, handler)
        EM.add_timer(0.05) { master.write("one\ntwo\nthree\n") }
        stop_when(what: "three lines") { got.join == "one\ntwo\nthree\n" }
      end
      expect(got.join).to eq("one\ntwo\nthree\n")
    ensure
      master&.close
      slave&.close unless slave&.closed?
    end

    it "attaches a pipe's write end: send_data writes to it, close_connection_after_writing flushes then closes" do
      r, w = io_pair(:pipe)
      got = +""
      run_em do
        writer = EM.attach(w)
        writer.send_data("pipe")
        writer.send_data("d!")
        writer.close_connection_after_writing
        EM.attach(r, Class.new(EM::Connection) do
          define_method(:receive_data) { |d| got << d }
          define_method(:unbind) { EM.stop }
        end)
      end
      expect(got).to eq("piped!")
      expect(w.closed?).to be(true)
    end

    it "attaches a connected socket both ways; close_connection closes the IO after unbind" do
      a, b = io_pair(:socket)
      log = []
      run_em do
        conn = EM.attach(a, Class.new(EM::Connection) do
          define_method(:receive_data) { |d| log << d; send_data(d.upcase) }
          define_method(:unbind) { log << :unbind }
        end)
        b.write("knock")
        when_true(-> { b.wait_readable(0) }) do
          log << b.read_nonblock(100)
          conn.close_connection
          stop_when { log.last == :unbind }
        end
      end
      expect(log).to eq(["knock", "KNOCK", :unbind])
      expect(a.closed?).to be(true)
    end

    it "takes a raw file descriptor too", em_rust_only: "real EM's unbind handling calls #close on the Integer, so EM.run raises NoMethodError once the connection ends" do
      a, b = io_pair(:socket)
      mine = a.dup # the reactor owns this descriptor from here on
      mine.autoclose = false
      got = nil
      run_em do
        EM.attach(mine.fileno, Class.new(EM::Connection) { define_method(:receive_data) { |d| got = d; EM.stop } })
        b.write("by fd")
      end
      expect(got).to eq("by fd")
    end

    it "rejects a handler with notify_readable/notify_writable: ArgumentError pointing at EM.watch" do
      r, = io_pair(:pipe)
      handler = Class.new(EM::Connection) { def notify_readable; end }
      run_em do
        expect { EM.attach(r, handler) }.to raise_error(
          ArgumentError,
          "notify_readable/writable with EM.attach is not supported. Use EM.watch(io){ |c| c.notify_readable = true }",
        )
        EM.stop
      end
    end

    it "an invalid descriptor raises instead of aborting the process", em_rust_only: "real EM aborts (uncaught std::runtime_error 'Bad file descriptor')" do
      # A closed IO's number would be reused by the reactor's own fds, so use one
      # beyond the process's descriptor limit.
      bad_fd = Process.getrlimit(:NOFILE).last + 10
      run_em do
        expect { EM.attach(bad_fd) }.to raise_error(StandardError)
        EM.add_timer(0.02) { EM.stop }
      end
    end

    it "works when called through EM.schedule from another thread while the reactor runs in a background thread (as faye-websocket does)" do
      a, b = io_pair(:socket)
      got = Queue.new
      reactor = Thread.new { EM.run }
      deadline = now + bound(3)
      sleep 0.01 until EM.reactor_running? || now > deadline
      expect(EM.reactor_running?).to be(true)
      EM.schedule do
        EM.attach(a, Class.new(EM::Connection) { define_method(:receive_data) { |d| got << [d, EM.reactor_thread?] } })
      end
      b.write("hijacked")
      result = Timeout.timeout(bound(3)) { got.pop }
      expect(result).to eq(["hijacked", true])
    ensure
      EM.schedule { EM.stop } if EM.reactor_running?
      reactor&.join(bound(3)) || reactor&.kill
    end
  end

  describe "detach" do
    it "on a watched IO returns the fd, leaves the IO open and usable, and unbind follows" do
      r, w = io_pair(:pipe)
      log = []
      run_em do
        conn = EM.watch(r, Class.new(EM::Connection) { define_method(:unbind) { |reason| log << [:unbind, reason] } })
        EM.add_timer(0.05) { log << [:detach, conn.detach] }
        EM.add_timer(0.15) { EM.stop }
      end
      expect(log).to eq([[:detach, r.fileno], [:unbind, nil]])
      expect(r.closed?).to be(false)
      w.write("still mine")
      expect(r.read_nonblock(100)).to eq("still mine")
    end

    it "on an attached IO returns the fd and leaves the IO open", em_rust_only: "real EM's unbind handling closes an attached IO even after detach, though detach promises to leave it open" do
      a, b = io_pair(:socket)
      log = []
      run_em do
        conn = EM.attach(a, Class.new(EM::Connection) { define_method(:unbind) { |reason| log << [:unbind, reason] } })
        EM.add_timer(0.05) { log << [:detach, conn.detach] }
        EM.add_timer(0.15) { EM.stop }
      end
      expect(log).to eq([[:detach, a.fileno], [:unbind, nil]])
      expect(a.closed?).to be(false)
      b.write("after detach")
      expect(a.read_nonblock(100)).to eq("after detach")
    end
  end

  describe "EM.watch" do
    it "starts with notify_readable? and notify_writable? false, watch_only? true, and never reads the IO itself" do
      r, w = io_pair(:pipe)
      states = nil
      run_em do
        conn = EM.watch(r, EM::Connection)
        states = [conn.notify_readable?, conn.notify_writable?, conn.watch_only?]
        w.write("left alone")
        EM.add_timer(0.1) { EM.stop }
      end
      expect(states).to eq([false, false, true])
      expect(r.read_nonblock(100)).to eq("left alone")
    end

    it "calls notify_readable while the IO is readable once notify_readable = true; the handler reads it" do
      r, w = io_pair(:pipe)
      got = []
      handler = Class.new(EM::Connection) do
        define_method(:notify_readable) do
          data = @io.read_nonblock(100, exception: false)
          if data.nil? # EOF
            detach
            EM.stop
          elsif data != :wait_readable
            got << data
          end
        end
      end
      run_em do
        EM.watch(r, handler) { |c| c.notify_readable = true; got << c.notify_readable? }
        w.write("one")
        EM.add_timer(0.1) { w.write("two") }
        EM.add_timer(0.2) { w.close }
      end
      expect(got).to eq([true, "one", "two"])
    end

    it "notify_writable fires repeatedly while on, and stops when turned off" do
      _, w = io_pair(:pipe)
      calls = 0
      after_off = nil
      handler = Class.new(EM::Connection) do
        define_method(:notify_writable) do
          calls += 1
          self.notify_writable = false if calls == 3
        end
      end
      run_em do
        conn = EM.watch(w, handler) { |c| c.notify_writable = true }
        EM.add_timer(0.2) do
          after_off = [calls, conn.notify_writable?]
          EM.stop
        end
      end
      expect(after_off).to eq([3, false])
    end

    it "EM.attach_io(io, watch_mode, handler, *args) is what EM.watch (true) and EM.attach (false) call" do
      r, w = io_pair(:pipe)
      r2, = io_pair(:pipe)
      got = nil
      run_em do
        watched = EM.attach_io(r, true, EM::Connection)
        attached = EM.attach_io(r2, false, Class.new(EM::Connection) { define_method(:initialize) { |x| got = x } }, :arg)
        expect([watched.watch_only?, attached.watch_only?]).to eq([true, false])
        w.write("unread")
        EM.add_timer(0.05) { EM.stop }
      end
      expect(got).to eq(:arg)
      expect(r.read_nonblock(100)).to eq("unread")
    end

    it "notify_readable = false stops the calls" do
      r, w = io_pair(:pipe)
      calls = 0
      at_off = nil
      run_em do
        conn = EM.watch(r, Class.new(EM::Connection) { define_method(:notify_readable) { calls += 1 } })
        conn.notify_readable = true
        w.write("x") # never read: stays readable
        EM.add_timer(0.1) do
          conn.notify_readable = false
          at_off = calls
          EM.add_timer(0.1) { EM.stop }
        end
      end
      expect(at_off).to be > 0
      expect(calls).to eq(at_off)
    end
  end

  describe "EM.attach_server" do
    it "serves an existing listening socket; @acceptors keeps [klass, args, block, the socket]" do
      server = TCPServer.new("127.0.0.1", 0)
      held_sockets << server
      port = server.addr[1]
      seen = []
      blk = proc { |c| seen << [:block, c.class] }
      handler = Class.new(ConnectionHelpers::Upcase) do
        define_method(:initialize) { |*args| seen << [:initialize, args] }
      end
      reply = nil
      run_em do
        sig = EM.attach_server(server, handler, :a, &blk)
        expect(sig).to be_an(Integer)
        expect(EM.instance_eval { @acceptors }[sig]).to eq([handler, [:a], blk, server])
        expect(port_of(sig)).to eq(port)
        client = Class.new(EM::Connection) do
          define_method(:connection_completed) { send_data("attached") }
          define_method(:receive_data) { |d| reply = d; EM.stop }
        end
        EM.connect("127.0.0.1", port, client)
      end
      expect(seen).to eq([[:initialize, [:a]], [:block, handler]])
      expect(reply).to eq("ATTACHED")
    end

    it "takes a descriptor number, and stop_server stops accepting" do
      server = TCPServer.new("127.0.0.1", 0)
      held_sockets << server
      port = server.addr[1]
      log = []
      run_em do
        sig = EM.attach_server(server.fileno, ConnectionHelpers::Echo)
        EM.connect("127.0.0.1", port, Class.new(EM::Connection) do
          define_method(:connection_completed) do
            log << :first_ok
            close_connection
            EM.stop_server(sig)
            EM.add_timer(0.1) do
              EM.connect("127.0.0.1", port, Class.new(EM::Connection) do
                define_method(:connection_completed) { log << :late_connected }
                define_method(:unbind) { |r| log << r; EM.stop }
              end)
            end
          end
        end)
      end
      expect(log).to eq([:first_ok, Errno::ECONNREFUSED])
    end
  end
end
