# frozen_string_literal: true
require "spec_helper"

RSpec.describe "name resolution and addresses" do
  describe "EM.connect to a name that does not resolve" do
    it "raises EM::ConnectionError 'unable to resolve address: <resolver message>' at once, connecting nothing" do
      run_em do
        before = EM.connection_count
        t0 = now
        ["no-such-host.invalid", "999.1.1.1"].each do |bad|
          expect { EM.connect(bad, 80, ConnectionHelpers::Collector) }
            .to raise_error(EM::ConnectionError, /\Aunable to resolve address: \S/)
        end
        expect(now - t0).to be < bound(2)
        expect(EM.connection_count).to eq(before)
        EM.add_timer(0.05) { EM.stop } # the reactor goes on
      end
    end

    it "gives the resolver's text, e.g. 'Name or service not known' for a bad numeric address" do
      run_em do
        expect { EM.connect("999.1.1.1", 80) }
          .to raise_error(EM::ConnectionError, "unable to resolve address: Name or service not known")
        EM.stop
      end
    end

    it "raises EM::ConnectionError 'invalid server or port' for an empty host" do
      run_em do
        expect { EM.connect("", 80) }.to raise_error(EM::ConnectionError, "invalid server or port")
        EM.stop
      end
    end

    it "is catchable inside the reactor, which keeps serving" do
      got = nil
      run_em do
        _, port = start_server_on_free_port(ConnectionHelpers::Upcase)
        begin
          EM.connect("no-such-host.invalid", port)
        rescue EM::ConnectionError
          client = Class.new(EM::Connection) do
            define_method(:connection_completed) { send_data("ok") }
            define_method(:receive_data) { |d| got = d; EM.stop }
          end
          EM.connect("127.0.0.1", port, client)
        end
      end
      expect(got).to eq("OK")
    end

    it "a port out of range raises EM::ConnectionError", em_rust_only: "real EM silently truncates the port to 16 bits (70000 connects to 4464)" do
      run_em do
        expect { EM.connect("127.0.0.1", 70_000) }.to raise_error(EM::ConnectionError)
        EM.stop
      end
    end
  end

  describe "EM.bind_connect" do
    it "binds the local end to the given address and port" do
      local = {}
      client = Class.new(EM::Connection) do
        define_method(:initialize) { |tag| @tag = tag }
        define_method(:connection_completed) { local[@tag] = Socket.unpack_sockaddr_in(get_sockname); close_connection }
      end
      run_em do
        _, port = start_server_on_free_port
        bind_port = refused_port.tap { close_held_sockets }
        EM.bind_connect("127.0.0.1", bind_port, "127.0.0.1", port, client, :fixed)
        EM.bind_connect("127.0.0.2", nil, "127.0.0.1", port, client, :addr_only)
        stop_when { local.size == 2 }
      end
      expect(local[:fixed][1]).to eq("127.0.0.1")
      expect(local[:addr_only]).to match([be > 0, "127.0.0.2"])
    end

    it "raises EM::ConnectionError 'invalid bind address: ...' for a bind address that does not resolve" do
      run_em do
        _, port = start_server_on_free_port
        ["no-such-host.invalid", "999.0.0.1"].each do |bad|
          expect { EM.bind_connect(bad, 0, "127.0.0.1", port) }
            .to raise_error(EM::ConnectionError, /\Ainvalid bind address: \S/)
        end
        EM.stop
      end
    end

    it "raises EM::ConnectionError \"couldn't bind to address\" for an address of no local interface, or a port in use" do
      run_em do
        _, port = start_server_on_free_port
        expect { EM.bind_connect("192.0.2.1", 0, "127.0.0.1", port) }
          .to raise_error(EM::ConnectionError, "couldn't bind to address")
        expect { EM.bind_connect("127.0.0.1", port, "127.0.0.1", port) }
          .to raise_error(EM::ConnectionError, "couldn't bind to address")
        EM.stop
      end
    end
  end

  describe "EM::DNS::Resolver" do
    it "answers a name from the hosts file with a Deferrable that succeeds with the addresses" do
      hosts = EM::DNS::Resolver.hosts
      expect(hosts).to be_a(Hash)
      name, addrs = hosts.find { |n, _| n == "localhost" } || hosts.first
      skip("no entries in /etc/hosts") unless name
      result = nil
      run_em do
        d = EM::DNS::Resolver.resolve(name)
        expect(d).to be_a(EM::Deferrable)
        d.callback { |a| result = a; EM.stop }
        d.errback { |e| result = [:failed, e]; EM.stop }
      end
      expect(result).to eq(addrs)
    end
  end

  # Names that resolve to both ::1 and 127.0.0.1 need a hosts file that says so.
  # The child gets a private /etc/hosts (mount namespace); without the rights
  # for that, these are skipped.
  describe "dual-stack names", timeout: 30 do
    let(:hosts_file) do
      File.join(tmpdir, "hosts").tap do |f|
        File.write(f, "127.0.0.1 localhost\n::1 em-rust-dual\n127.0.0.1 em-rust-dual\n")
      end
    end

    def private_hosts_argv(code)
      ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts_file, *ruby_argv(code)]
    end

    before do
      skip_without_ipv6
      probe = begin
        run_command(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && getent ahosts em-rust-dual', hosts_file], timeout: 5)
      rescue StandardError => e
        skip("cannot give a child a private /etc/hosts: #{e.message}")
      end
      unless probe.success? && probe.output.include?("::1") && probe.output.include?("127.0.0.1")
        skip("cannot give a child a private /etc/hosts (unshare -m / mount --bind): #{probe.output.lines.first}")
      end
      skip("getaddrinfo does not list ::1 first here") unless probe.output.lines.first.start_with?("::1")
    end

    it "EM.connect tries every address: ::1 refused, then 127.0.0.1 connects", em_rust_only: "real EM tries only the first address and unbinds with Errno::ECONNREFUSED" do
      code = <<~'RUBY'
        require "socket"
        client = Class.new(EM::Connection) do
          define_method(:connection_completed) { puts "completed via #{Socket.unpack_sockaddr_in(get_peername)[1]}"; close_connection }
          define_method(:unbind) { |r| puts "unbind #{r.inspect}"; EM.stop }
        end
        EM.run do
          sig = EM.start_server("127.0.0.1", 0, EM::Connection)
          EM.connect("em-rust-dual", Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0], client)
          EM.add_timer(10) { puts "timeout"; EM.stop }
        end
      RUBY
      r = run_command(private_hosts_argv(code), timeout: bound(15))
      expect(r.output).to eq("completed via 127.0.0.1\nunbind nil\n")
    end

    it "a server on a dual-stack name accepts IPv4 and IPv6 clients", em_rust_only: "real EM binds only the first address the name resolves to" do
      code = <<~'RUBY'
        require "socket"
        peers = []
        client = Class.new(EM::Connection) do
          define_method(:connection_completed) { peers << Socket.unpack_sockaddr_in(get_peername)[1]; close_connection }
          define_method(:unbind) { |r| peers << r.inspect if r; (puts peers.sort.join(" "); peers << :printed; EM.stop) if peers.size == 2 }
        end
        EM.run do
          sig = EM.start_server("em-rust-dual", 0, EM::Connection)
          port = Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]
          EM.connect("127.0.0.1", port, client)
          EM.connect("::1", port, client)
          EM.add_timer(10) { puts "timeout #{peers.inspect}"; EM.stop }
        end
      RUBY
      r = run_command(private_hosts_argv(code), timeout: bound(15))
      expect(r.output).to eq("127.0.0.1 ::1\n")
    end
  end
end
