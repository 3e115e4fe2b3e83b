# frozen_string_literal: true
require "spec_helper"

RSpec.describe "TCP servers and clients" do
  describe "EM.start_server" do
    it "returns an Integer signature; port 0 binds an ephemeral port that EM.get_sockname(sig) reports as a packed sockaddr" do
      run_em do
        sig = EM.start_server("127.0.0.1", 0, ConnectionHelpers::Echo)
        expect(sig).to be_an(Integer)
        packed = EM.get_sockname(sig)
        expect(packed).to be_a(String)
        port, addr = Socket.unpack_sockaddr_in(packed)
        expect(addr).to eq("127.0.0.1")
        expect(port).to be_between(1, 65_535)
        EM.stop
      end
    end

    it "takes the port as a String of digits too (Integer(port))" do
      run_em do
        sig = EM.start_server("127.0.0.1", "0", ConnectionHelpers::Echo)
        expect(port_of(sig)).to be > 0
        EM.stop
      end
    end

    it "raises RuntimeError 'no acceptor ...' when the port is taken, and the reactor keeps running" do
      run_em do
        _, port = start_server_on_free_port
        expect { EM.start_server("127.0.0.1", port, ConnectionHelpers::Echo) }
          .to raise_error(RuntimeError, "no acceptor (port is in use or requires root privileges)")
        EM.add_timer(0.01) { EM.stop }
      end
    end

    it "raises the same RuntimeError for an address it cannot bind" do
      run_em do
        ["no-such-host.invalid", "999.1.1.1"].each do |bad|
          expect { EM.start_server(bad, 0, ConnectionHelpers::Echo) }
            .to raise_error(RuntimeError, "no acceptor (port is in use or requires root privileges)")
        end
        EM.stop
      end
    end

    it "binds the same port again at once in the next EM.run" do
      port = nil
      run_em do
        _, port = start_server_on_free_port
        EM.stop
      end
      run_em do
        expect(EM.start_server("127.0.0.1", port, ConnectionHelpers::Echo)).to be_an(Integer)
        EM.stop
      end
    end
  end

  describe "echo round trip" do
    it "delivers data both ways; connection_completed fires once on the client side only" do
      events = []
      server = Class.new(EM::Connection) do
        define_method(:connection_completed) { events << :server_completed }
        define_method(:receive_data) { |d| send_data(d.upcase) }
      end
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { events << :client_completed; send_data("hello ") ; send_data("world") }
        define_method(:receive_data) do |d|
          (@got ||= +"") << d
          if @got == "HELLO WORLD"
            events << [:reply, @got]
            close_connection
          end
        end
        define_method(:unbind) { EM.add_timer(0.05) { EM.stop } }
      end
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, client)
      end
      expect(events).to eq([:client_completed, [:reply, "HELLO WORLD"]])
    end

    it "receive_data gets binary (ASCII-8BIT), unfrozen Strings, byte for byte" do
      chunks = []
      payload = (0..255).map(&:chr).join.b * 4
      run_em do
        _, port = start_server_on_free_port(ConnectionHelpers::Echo)
        client = Class.new(EM::Connection) do
          define_method(:connection_completed) { send_data(payload) }
          define_method(:receive_data) { |d| chunks << d; close_connection if chunks.join.bytesize >= payload.bytesize }
          define_method(:unbind) { EM.stop }
        end
        EM.connect("127.0.0.1", port, client)
      end
      expect(chunks).to all(satisfy { |c| c.encoding == Encoding::ASCII_8BIT && !c.frozen? })
      expect(chunks.join).to eq(payload)
    end

    # What the sends a client makes when connected (the block, run on the
    # connection, returns their results) returned, and what the server got.
    def sends_and_received(&sends)
      returns = got = nil
      run_em do
        _, port = start_server_on_free_port(ConnectionHelpers::Collector, ->(data, _) { got = data; EM.stop })
        client = Class.new(EM::Connection) do
          define_method(:connection_completed) do
            returns = instance_exec(&sends)
            close_connection_after_writing
          end
        end
        EM.connect("127.0.0.1", port, client)
      end
      [returns, got]
    end

    it "send_data sends the bytes of a String in any encoding, and to_s of anything else; it returns the byte count" do
      returns, got = sends_and_received do
        [send_data("h\u00e9"), send_data(42), send_data(:sym), send_data(nil), send_data(""), send_data("\x00\xFF".b)]
      end
      expect(returns).to eq([3, 2, 3, 0, 0, 2])
      expect(got).to eq("h\xC3\xA942sym\x00\xFF".b)
    end

    it "EM.send_data(sig, data, size) is the signature-level form (thin calls it): the count of bytes queued back; outside the reactor EM's RuntimeError" do
      returns, got = sends_and_received { [EM.send_data(signature, "abc", 3), EM.send_data(signature, "\u00e9d".b, 3)] }
      expect(returns).to eq([3, 3])
      expect(got).to eq("abc\u00e9d".b)
      expect { EM.send_data(1, "x", 1) }.to raise_error(RuntimeError, /eventmachine not initialized: evma_send_data_to_connection/)
    end

    it "works with a Module handler and a block on both sides" do
      replies = []
      mod = Module.new do
        define_method(:receive_data) { |d| replies << d; close_connection }
        define_method(:unbind) { EM.stop }
      end
      run_em do
        _, port = start_server_on_free_port(ConnectionHelpers::Upcase) { |c| c.send_data("greetings") }
        EM.connect("127.0.0.1", port, mod) { |c| expect(c).to be_a(mod) }
      end
      expect(replies.join).to eq("greetings")
    end
  end

  describe "addresses" do
    it "get_peername and get_sockname are packed sockaddrs that mirror each other on the two ends" do
      client_view = server_view = nil
      by_sig = []
      server = Class.new(EM::Connection) do
        define_method(:post_init) do
          server_view = [Socket.unpack_sockaddr_in(get_sockname), Socket.unpack_sockaddr_in(get_peername)]
        end
      end
      run_em do
        sig, port = start_server_on_free_port(server)
        client = Class.new(EM::Connection) do
          define_method(:connection_completed) do
            client_view = [Socket.unpack_sockaddr_in(get_sockname), Socket.unpack_sockaddr_in(get_peername)]
            by_sig << [EM.get_peername(signature) == get_peername, EM.get_sockname(signature) == get_sockname,
                       EM.get_sockname(sig) == Socket.pack_sockaddr_in(port, "127.0.0.1")]
          end
        end
        EM.connect("127.0.0.1", port, client)
        stop_when { client_view && server_view }
      end
      client_local, client_peer = client_view
      server_local, server_peer = server_view
      expect(client_peer).to eq(server_local)
      expect(server_peer).to eq(client_local)
      expect(client_local[1]).to eq("127.0.0.1")
      expect(by_sig).to eq([[true, true, true]])
    end

    it "connects to a host name ('localhost')" do
      addr = nil
      run_em do
        _, port = start_server_on_free_port
        client = Class.new(EM::Connection) do
          define_method(:connection_completed) { addr = Socket.unpack_sockaddr_in(get_peername); close_connection }
          define_method(:unbind) { EM.stop }
        end
        EM.connect("localhost", port, client)
      end
      expect(addr[0]).to be > 0
    end

    describe "IPv6" do
      before { skip_without_ipv6 }

      it "serves and connects on ::1, with IPv6 sockaddrs" do
        seen = {}
        run_em do
          sig, port = start_server_on_free_port(ConnectionHelpers::Upcase, host: "::1")
          expect(local_address(sig)).to eq([port, "::1"])
          client = Class.new(EM::Connection) do
            define_method(:connection_completed) do
              seen[:peer] = Socket.unpack_sockaddr_in(get_peername)
              send_data("six")
            end
            define_method(:receive_data) { |d| seen[:reply] = d; close_connection }
            define_method(:unbind) { EM.stop }
          end
          EM.connect("::1", port, client)
        end
        expect(seen[:reply]).to eq("SIX")
        expect(seen[:peer][1]).to eq("::1")
      end

      it "a server on '::' accepts IPv4 and IPv6 clients" do
        peers = []
        run_em do
          _, port = start_server_on_free_port(ConnectionHelpers::Echo, host: "::")
          client = Class.new(EM::Connection) do
            define_method(:connection_completed) { peers << Socket.unpack_sockaddr_in(get_peername)[1]; close_connection }
          end
          EM.connect("127.0.0.1", port, client)
          EM.connect("::1", port, client)
          stop_when(what: "both connects") { peers.size == 2 }
        end
        expect(peers.sort).to eq(["127.0.0.1", "::1"])
      end
    end
  end

  describe "EM.stop_server" do
    it "stops accepting (later connects are refused) while existing connections keep working; @acceptors forgets the server" do
      log = []
      snapshot = nil
      run_em do
        sig, port = start_server_on_free_port(ConnectionHelpers::Upcase)
        client = Class.new(EM::Connection) do
          define_method(:initialize) { |name| @name = name }
          define_method(:receive_data) { |d| log << [@name, d] }
          define_method(:unbind) { |reason| log << [@name, :unbind, reason] }
        end
        first = EM.connect("127.0.0.1", port, client, :first)
        EM.add_timer(0.1) do
          EM.stop_server(sig)
          EM.add_timer(0.1) do
            expect(EM.instance_eval { @acceptors }).not_to have_key(sig)
            EM.connect("127.0.0.1", port, client, :late)
            first.send_data("still here")
          end
        end
        when_true(-> { log.size == 2 }, what: "late unbind and the reply") do
          snapshot = log.dup
          EM.stop
        end
      end
      expect(snapshot).to contain_exactly([:late, :unbind, Errno::ECONNREFUSED], [:first, "STILL HERE"])
    end

    it "stopping a server twice does not crash the process: the second stop_server returns nil", em_rust_only: "real EM aborts the process: std::runtime_error 'failed to close nonexistent acceptor'" do
      log = []
      returned = run_em do
        sig, = start_server_on_free_port
        log << [:first, EM.stop_server(sig)]
        EM.add_timer(0.1) do
          log << [:second, EM.stop_server(sig)]
          EM.add_timer(0.05) { EM.stop }
        end
      end
      expect(returned).to be_nil # EM.run returned
      expect(log).to eq([[:first, nil], [:second, nil]])
    end
  end

  describe "EM.connection_count" do
    it "counts listening servers and connections; a connect counts at once" do
      counts = {}
      run_em do
        counts[:empty] = EM.connection_count
        sig, port = start_server_on_free_port
        counts[:server] = EM.connection_count
        client = EM.connect("127.0.0.1", port)
        counts[:connecting] = EM.connection_count
        EM.add_timer(0.2) do
          counts[:established] = EM.connection_count
          client.close_connection
          EM.add_timer(0.2) do
            counts[:closed] = EM.connection_count
            EM.stop_server(sig)
            EM.add_timer(0.2) do
              counts[:no_server] = EM.connection_count
              EM.stop
            end
          end
        end
      end
      expect(counts).to eq(empty: 0, server: 1, connecting: 2, established: 3, closed: 1, no_server: 0)
    end
  end
end
