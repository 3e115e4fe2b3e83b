# frozen_string_literal: true
require "spec_helper"
require "tmpdir"

# Watch-mode behaviours that differed from EventMachine (issue 10 item 4), each
# green on both implementations.
RSpec.describe "EM.watch / EM.attach, file watches and the resolver (parity with the real gem)" do
  describe "watch_only?" do
    it "is true for an EM.watch connection and false for an EM.attach one (Connection#watch_only? and EM.watch_only?)" do
      r, w = io_pair
      seen = {}
      run_em do
        watched = EM.watch(r)
        attached = EM.attach(w)
        seen = { watch: watched.watch_only?, attach: attached.watch_only?,
                 module_watch: EM.watch_only?(watched.signature), module_attach: EM.watch_only?(attached.signature) }
        watched.detach
        attached.detach
        EM.stop
      end
      expect(seen).to eq(watch: true, attach: false, module_watch: true, module_attach: false)
    end

    it "is already true inside initialize and post_init of an EM.watch handler" do
      r, _w = io_pair
      seen = []
      handler = Class.new(EM::Connection) do
        define_method(:initialize) { |*| seen << [:initialize, watch_only?] }
        define_method(:post_init) { seen << [:post_init, watch_only?] }
      end
      run_em do
        EM.watch(r, handler).detach
        EM.stop
      end
      expect(seen).to eq([[:initialize, true], [:post_init, true]])
    end
  end

  describe "notify_readable= / notify_writable= inside initialize of an EM.watch handler" do
    it "take effect: notify_readable is called when the descriptor becomes readable" do
      r, w = io_pair
      log = []
      handler = Class.new(EM::Connection) do
        define_method(:initialize) do |tag|
          @tag = tag
          self.notify_readable = true
          self.notify_writable = false
          log << [:modes, notify_readable?, notify_writable?]
        end
        define_method(:notify_readable) do
          log << [:readable, @tag, @io_read = r.read_nonblock(100)]
          detach
          EM.stop
        end
      end
      run_em do
        EM.watch(r, handler, :tagged)
        EM.add_timer(0.05) { w.write("ready") }
      end
      expect(log).to eq([[:modes, true, false], [:readable, :tagged, "ready"]])
    end

    it "notify_writable = true in initialize: notify_writable is called for a writable descriptor" do
      _r, w = io_pair
      calls = 0
      handler = Class.new(EM::Connection) do
        define_method(:initialize) { self.notify_writable = true }
        define_method(:notify_writable) do
          calls += 1
          detach
          EM.stop
        end
      end
      run_em { EM.watch(w, handler) }
      expect(calls).to eq(1)
    end
  end

  describe "EM.watch_filename / EM.unwatch_filename (the module level of EM.watch_file)" do
    it "watch_filename gives the signature EM.watch_file builds its FileWatch on; unwatch_filename ends the watch with an unbind" do
      dir = Dir.mktmpdir("em_parity_watch")
      path = File.join(dir, "f")
      File.write(path, "")
      log = []
      handler = Class.new(EM::FileWatch) do
        define_method(:file_modified) { log << :modified; EM.unwatch_filename(signature) }
        define_method(:unbind) { log << :unbind; EM.stop }
      end
      run_em do
        sig = EM.watch_filename(path)
        watch = handler.new(sig)
        watch.instance_variable_set(:@path, path)
        EM.instance_variable_get(:@conns)[sig] = watch
        EM.add_timer(0.05) { File.write(path, "x") }
      end
      expect(log).to eq(%i[modified unbind])
    ensure
      FileUtils.rm_rf(dir) if dir
    end

    it "EM.watch_file's FileWatch#stop_watching goes through EM.unwatch_filename" do
      dir = Dir.mktmpdir("em_parity_watch")
      path = File.join(dir, "f")
      File.write(path, "")
      called = []
      handler = Class.new(EM::FileWatch) { define_method(:unbind) { called << :unbind; EM.stop } }
      run_em do
        watch = EM.watch_file(path, handler)
        allow(EM).to receive(:unwatch_filename).and_wrap_original { |m, sig| called << [:unwatch, sig == watch.signature]; m.call(sig) }
        watch.stop_watching
      end
      expect(called).to eq([[:unwatch, true], :unbind])
    ensure
      FileUtils.rm_rf(dir) if dir
    end
  end

  describe "EM::DNS::Resolver.resolve" do
    it "raises ArgumentError for a name that is not a String (out of EM.run)" do
      expect { EM.run { EM::DNS::Resolver.resolve(123) } }.to raise_error(ArgumentError)
      expect(EM.reactor_running?).to be(false)
    end
  end

  def io_pair
    pair = IO.pipe
    held_sockets.concat(pair)
    pair
  end
end
