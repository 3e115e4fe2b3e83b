# frozen_string_literal: true
require "spec_helper"

# How the reactor creates Connection objects: EM::Connection.new(sig, *args)
# allocates, sets @signature, calls initialize(*args) and then post_init; the
# handler may be a Connection subclass, a Module (mixed into one anonymous
# subclass, cached on the module) or nil.
RSpec.describe "EM::Connection lifecycle" do
  describe "EM::Connection.new(sig, *args)" do
    it "sets @signature before initialize runs, passes the rest to initialize, then calls post_init, and returns the object" do
      log = []
      klass = Class.new(EM::Connection) do
        define_method(:initialize) { |*args| log << [:initialize, @signature, signature, args] }
        define_method(:post_init) { log << [:post_init, @signature] }
      end
      conn = klass.new(42, :a, "b")
      expect(conn).to be_a(klass)
      expect(conn.signature).to eq(42)
      expect(log).to eq([[:initialize, 42, 42, [:a, "b"]], [:post_init, 42]])
    end

    it "gives a handler without initialize or post_init the defaults, which accept anything" do
      conn = EM::Connection.new(7, 1, 2, 3)
      expect(conn.signature).to eq(7)
    end

    it "lets signature be reassigned (EM.reconnect does)" do
      conn = EM::Connection.new(1)
      conn.signature = 99
      expect(conn.signature).to eq(99)
    end
  end

  describe "callback order" do
    it "client: initialize, post_init, the connect block, EM.connect returns; later connection_completed, receive_data, unbind" do
      log = []
      client = Class.new(EM::Connection) do
        define_method(:initialize) { |*args| log << [:initialize, args, signature.class] }
        define_method(:post_init) { log << :post_init }
        define_method(:connection_completed) { log << :connection_completed; send_data("ping") }
        define_method(:receive_data) { |d| log << [:receive_data, d]; close_connection }
        define_method(:unbind) { log << :unbind; EM.stop }
      end
      run_em do
        _, port = start_server_on_free_port(ConnectionHelpers::Upcase)
        conn = EM.connect("127.0.0.1", port, client, :arg1, 2) { |c| log << [:block, c.class] }
        log << [:returned, conn.class]
      end
      expect(log).to eq([
        [:initialize, [:arg1, 2], Integer], :post_init, [:block, client], [:returned, client],
        :connection_completed, [:receive_data, "PING"], :unbind,
      ])
    end

    it "server: each accepted connection gets initialize(*args), post_init, then the start_server block, then its data" do
      log = []
      server = Class.new(EM::Connection) do
        define_method(:initialize) { |*args| log << [:initialize, args] }
        define_method(:post_init) { log << :post_init }
        define_method(:receive_data) { |d| log << [:receive_data, d]; send_data("ok") }
        define_method(:unbind) { log << :unbind }
      end
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { send_data("hi") }
        define_method(:receive_data) { |_| close_connection }
        define_method(:unbind) { EM.add_timer(0.05) { EM.stop } }
      end
      run_em do
        _, port = start_server_on_free_port(server, :x, 9) { |c| log << [:block, c.class] }
        EM.connect("127.0.0.1", port, client)
      end
      expect(log).to eq([[:initialize, [:x, 9]], :post_init, [:block, server], [:receive_data, "hi"], :unbind])
    end

    it "passes the same argument objects to every accepted connection" do
      shared = +"shared"
      seen = []
      server = Class.new(EM::Connection) do
        define_method(:initialize) { |arg| seen << arg }
      end
      run_em do
        _, port = start_server_on_free_port(server, shared)
        3.times { EM.connect("127.0.0.1", port) }
        stop_when(what: "3 accepts") { seen.size == 3 }
      end
      expect(seen).to all(be(shared))
    end

    it "EM.connect returns the Connection before the TCP connect has completed" do
      completed_before_return = nil
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { @completed = true; close_connection }
        define_method(:completed?) { @completed }
        define_method(:unbind) { EM.stop }
      end
      run_em do
        _, port = start_server_on_free_port
        conn = EM.connect("127.0.0.1", port, client)
        completed_before_return = conn.completed?
      end
      expect(completed_before_return).to be_nil
    end

    it "gives every connection a distinct Integer signature" do
      sigs = []
      run_em do
        server_sig, port = start_server_on_free_port(ConnectionHelpers::Echo) { |c| sigs << c.signature }
        sigs << server_sig
        3.times { sigs << EM.connect("127.0.0.1", port).signature }
        stop_when { sigs.size == 7 }
      end
      expect(sigs).to all(be_an(Integer))
      expect(sigs.uniq.size).to eq(7)
    end
  end

  describe "handlers" do
    it "nil gives a plain EM::Connection" do
      conn = nil
      run_em do
        _, port = start_server_on_free_port
        conn = EM.connect("127.0.0.1", port)
        EM.stop
      end
      expect(conn.class).to be(EM::Connection)
    end

    it "a Module becomes one anonymous Connection subclass, cached on the module as EM_CONNECTION_CLASS" do
      mod = Module.new do
        def receive_data(data) = send_data(data)
      end
      classes = []
      run_em do
        _, port = start_server_on_free_port(mod) { |c| classes << c.class }
        classes << EM.connect("127.0.0.1", port, mod).class
        classes << EM.connect("127.0.0.1", port, mod).class
        stop_when { classes.size == 4 }
      end
      klass = mod::EM_CONNECTION_CLASS
      expect(klass).to be_a(Class)
      expect(klass.superclass).to be(EM::Connection)
      expect(klass.include?(mod)).to be(true)
      expect(classes).to all(be(klass))
    end

    it "a Module's methods override the Connection defaults, and its initialize gets the arguments" do
      got = []
      mod = Module.new do
        define_method(:initialize) { |a, b| @ab = [a, b] }
        define_method(:post_init) { got << @ab }
      end
      run_em do
        _, port = start_server_on_free_port
        EM.connect("127.0.0.1", port, mod, 1, 2)
        EM.stop
      end
      expect(got).to eq([[1, 2]])
    end

    it "a Class that is not a Connection subclass raises ArgumentError, and nothing is connected" do
      run_em do
        _, port = start_server_on_free_port
        before = EM.connection_count
        [String, Class.new, Class.new(Object)].each do |bad|
          expect { EM.connect("127.0.0.1", port, bad) }
            .to raise_error(ArgumentError, "must provide module or subclass of EventMachine::Connection")
          expect { EM.start_server("127.0.0.1", 0, bad) }
            .to raise_error(ArgumentError, "must provide module or subclass of EventMachine::Connection")
        end
        expect(EM.connection_count).to eq(before)
        EM.stop
      end
    end

    it "something that is neither a Class nor a Module raises TypeError" do
      run_em do
        _, port = start_server_on_free_port
        [[5, "Integer"], [:sym, "Symbol"], [Object.new, "Object"]].each do |bad, name|
          expect { EM.connect("127.0.0.1", port, bad) }
            .to raise_error(TypeError, "wrong argument type #{name} (expected Module)")
        end
        EM.stop
      end
    end

    it "checks the argument count against initialize's arity: ArgumentError 'wrong number of arguments for K#initialize (given for expected)'" do
      klass = Class.new(EM::Connection) { def initialize(one); end }
      stub_const("OneArgHandler", klass)
      opt = Class.new(EM::Connection) { def initialize(one, two = 2); end }
      stub_const("OptArgHandler", opt)
      run_em do
        _, port = start_server_on_free_port
        expect { EM.connect("127.0.0.1", port, OneArgHandler) }
          .to raise_error(ArgumentError, "wrong number of arguments for OneArgHandler#initialize (0 for 1)")
        expect { EM.start_server("127.0.0.1", 0, OneArgHandler, 1, 2) }
          .to raise_error(ArgumentError, "wrong number of arguments for OneArgHandler#initialize (2 for 1)")
        expect { EM.connect("127.0.0.1", port, OptArgHandler) }
          .to raise_error(ArgumentError, "wrong number of arguments for OptArgHandler#initialize (0 for 1)")
        expect(EM.connect("127.0.0.1", port, OptArgHandler, 1)).to be_a(OptArgHandler)
        expect(EM.connect("127.0.0.1", port, OptArgHandler, 1, 2)).to be_a(OptArgHandler)
        EM.stop
      end
    end
  end

  describe "an exception from a client's post_init" do
    it "is raised from EM.connect", em_rust_only: "real EM then leaves the half-made descriptor behind and EM.run later raises EM::ConnectionNotBound 'unknown connection: N'" do
      err = RuntimeError.new("post_init failed")
      client = Class.new(EM::Connection) { define_method(:post_init) { raise err } }
      raised = nil
      counts = []
      run_em do
        _, port = start_server_on_free_port
        counts << EM.connection_count
        begin
          EM.connect("127.0.0.1", port, client)
        rescue RuntimeError => e
          raised = e
        end
        EM.add_timer(0.3) do
          counts << EM.connection_count
          EM.stop
        end
      end
      expect(raised).to be(err)
      expect(counts).to eq([1, 1])
    end
  end

  describe "state the Ruby layer keeps (read by thin and other gems)" do
    it "@acceptors maps a server signature to [handler class, args, block]" do
      blk = proc {}
      mod = Module.new
      acceptors = nil
      sig = nil
      run_em do
        sig, = start_server_on_free_port(ConnectionHelpers::Collector, nil, &blk)
        sig2, = start_server_on_free_port(mod)
        acceptors = EM.instance_eval { @acceptors }.dup
        expect(acceptors[sig2]).to eq([mod::EM_CONNECTION_CLASS, [], nil])
        EM.stop
      end
      expect(acceptors[sig]).to eq([ConnectionHelpers::Collector, [nil], blk])
    end

    it "@conns maps a signature to its live Connection" do
      run_em do
        _, port = start_server_on_free_port
        conn = EM.connect("127.0.0.1", port)
        expect(EM.instance_eval { @conns }[conn.signature]).to be(conn)
        EM.stop
      end
    end
  end
end
