# frozen_string_literal: true
require "spec_helper"

RSpec.describe "Unix-domain sockets" do
  let(:path) { File.join(tmpdir, "s.sock") }

  # Client that sends `msg`, records the reply and its addresses, then closes.
  def asking_client(log, msg)
    Class.new(EM::Connection) do
      define_method(:initialize) { |*args| log << [:args, args] }
      define_method(:connection_completed) do
        log << [:peer, Socket.unpack_sockaddr_un(get_peername)]
        send_data(msg)
      end
      define_method(:receive_data) { |d| log << [:reply, d]; close_connection }
      define_method(:unbind) { |r| log << [:unbind, r]; EM.stop }
    end
  end

  it "EM.start_server(path, handler, *args) serves on the path; EM.connect_unix_domain(path, handler, *args) connects" do
    log = []
    server_args = []
    server = Class.new(ConnectionHelpers::Upcase) do
      define_method(:initialize) { |*args| server_args << args }
    end
    sig = nil
    run_em do
      sig = EM.start_server(path, server, :srv_arg)
      expect(sig).to be_an(Integer)
      expect(File.socket?(path)).to be(true)
      expect(Socket.unpack_sockaddr_un(EM.get_sockname(sig))).to eq(path)
      EM.connect_unix_domain(path, asking_client(log, "over unix"), :cli_arg)
    end
    expect(log).to eq([[:args, [:cli_arg]], [:peer, path], [:reply, "OVER UNIX"], [:unbind, nil]])
    expect(server_args).to eq([[:srv_arg]])
  end

  it "EM.start_unix_domain_server(path, handler, *args) and EM.connect(path, handler, *args) work too" do
    log = []
    run_em do
      EM.start_unix_domain_server(path, ConnectionHelpers::Upcase)
      EM.connect(path, asking_client(log, "again"), 1, 2)
    end
    expect(log).to eq([[:args, [1, 2]], [:peer, path], [:reply, "AGAIN"], [:unbind, nil]])
  end

  it "the accepted side has an unnamed peer and the path as its own address" do
    seen = nil
    server = Class.new(EM::Connection) do
      define_method(:post_init) do
        seen = [Socket.unpack_sockaddr_un(get_peername), Socket.unpack_sockaddr_un(get_sockname)]
        close_connection
      end
      define_method(:unbind) { EM.stop }
    end
    run_em do
      EM.start_server(path, server)
      EM.connect_unix_domain(path)
    end
    expect(seen).to eq(["", path])
  end

  it "records the server in @acceptors like a TCP one" do
    blk = proc {}
    run_em do
      sig = EM.start_server(path, ConnectionHelpers::Echo, :a, &blk)
      expect(EM.instance_eval { @acceptors }[sig]).to eq([ConnectionHelpers::Echo, [:a], blk])
      EM.stop
    end
  end

  it "replaces a stale socket file left at the path" do
    UNIXServer.new(path).close # leaves the socket file behind
    expect(File.socket?(path)).to be(true)
    log = []
    run_em do
      EM.start_server(path, ConnectionHelpers::Upcase)
      EM.connect_unix_domain(path, asking_client(log, "fresh"))
    end
    expect(log.assoc(:reply)).to eq([:reply, "FRESH"])
  end

  it "stop_server stops accepting: a later connect raises RuntimeError 'no connection'" do
    run_em do
      sig = EM.start_server(path, ConnectionHelpers::Echo)
      EM.stop_server(sig)
      EM.add_timer(0.1) do
        expect { EM.connect_unix_domain(path) }.to raise_error(RuntimeError, "no connection")
        EM.stop
      end
    end
  end

  it "connecting to a path where nothing listens raises RuntimeError 'no connection' at once" do
    run_em do
      expect { EM.connect_unix_domain(File.join(tmpdir, "nothing.sock")) }.to raise_error(RuntimeError, "no connection")
      EM.stop
    end
  end

  it "a path in a missing directory raises RuntimeError 'no unix-domain acceptor'" do
    run_em do
      expect { EM.start_server(File.join(tmpdir, "missing", "s.sock"), ConnectionHelpers::Echo) }
        .to raise_error(RuntimeError, "no unix-domain acceptor")
      EM.stop
    end
  end

  it "does not delete a regular file at the path", em_rust_only: "real EM unlinks whatever is at the path, a regular file included, and binds there" do
    File.write(path, "precious")
    run_em do
      expect { EM.start_server(path, ConnectionHelpers::Echo) }.to raise_error(RuntimeError, "no unix-domain acceptor")
      EM.stop
    end
    expect(File.read(path)).to eq("precious")
  end

  it "carries binary data both ways in order" do
    payload = pattern_bytes(1024 * 1024, seed: 5)
    got = nil
    client = Class.new(ConnectionHelpers::Collector) do
      define_method(:connection_completed) { send_data(payload) }
      define_method(:receive_data) do |d|
        super(d)
        close_connection if data.bytesize >= payload.bytesize
      end
    end
    run_em do
      EM.start_server(path, ConnectionHelpers::Echo)
      EM.connect_unix_domain(path, client, ->(data, _) { got = data; EM.stop })
    end
    expect(got == payload).to be(true)
  end
end
