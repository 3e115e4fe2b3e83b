# frozen_string_literal: true
require "spec_helper"

RSpec.describe "reconnecting: EM.reconnect(server, port, handler) and Connection#reconnect(server, port)" do
  # A client that logs its lifecycle and, on each unbind, runs the next step.
  def stepping_client(log, steps)
    Class.new(EM::Connection) do
      define_method(:post_init) { log << [:post_init] }
      define_method(:connection_completed) { log << [:completed, signature]; close_connection }
      define_method(:unbind) do |reason|
        log << [:unbind, reason, signature]
        step = steps.shift
        step ? step.call(self) : EM.stop
      end
    end
  end

  it "Connection#reconnect from unbind reuses the same object under a new signature: no new post_init, connection_completed again" do
    log = []
    returned = []
    port = nil
    steps = [->(c) { returned << c.reconnect("127.0.0.1", port).equal?(c) << EM.instance_eval { @conns }[c.signature].equal?(c) }]
    conn = nil
    run_em do
      _, port = start_server_on_free_port
      conn = EM.connect("127.0.0.1", port, stepping_client(log, steps))
    end
    first_sig = log.assoc(:completed)[1]
    second_sig = log.select { |l| l[0] == :completed }.last[1]
    expect(log.map(&:first)).to eq(%i[post_init completed unbind completed unbind])
    expect(second_sig).not_to eq(first_sig)
    expect(conn.signature).to eq(second_sig)
    expect(returned).to eq([true, true])
  end

  it "EM.reconnect after a refused connect tries again (as amqp does); a refused retry unbinds with Errno::ECONNREFUSED again" do
    log = []
    good_port = nil
    bad_port = refused_port
    steps = [
      ->(c) { EM.add_timer(0.05) { EM.reconnect("127.0.0.1", bad_port, c) } },
      ->(c) { EM.add_timer(0.05) { EM.reconnect("127.0.0.1", good_port, c) } },
    ]
    run_em do
      _, good_port = start_server_on_free_port
      EM.connect("127.0.0.1", bad_port, stepping_client(log, steps))
    end
    expect(log.map { |l| l.first(2) }).to match([
      [:post_init], [:unbind, Errno::ECONNREFUSED], [:unbind, Errno::ECONNREFUSED], [:completed, Integer], [:unbind, nil],
    ])
  end

  it "returns a connection that is still bound unchanged, without connecting again" do
    result = nil
    run_em do
      _, port = start_server_on_free_port
      conn = EM.connect("127.0.0.1", port)
      sig = conn.signature
      count = EM.connection_count
      result = [EM.reconnect("127.0.0.1", port, conn).equal?(conn), conn.signature == sig, EM.connection_count == count]
      EM.stop
    end
    expect(result).to eq([true, true, true])
  end

  it "raises RuntimeError 'invalid handler' for something that is not a connection" do
    run_em do
      expect { EM.reconnect("127.0.0.1", 80, Object.new) }.to raise_error(RuntimeError, "invalid handler")
      EM.stop
    end
  end

  it "with port nil reconnects to a Unix-domain path" do
    path = File.join(tmpdir, "r.sock")
    log = []
    steps = [->(c) { c.reconnect(path, nil) }]
    run_em do
      EM.start_server(path, ConnectionHelpers::Echo)
      EM.connect_unix_domain(path, stepping_client(log, steps))
    end
    expect(log.map(&:first)).to eq(%i[post_init completed unbind completed unbind])
  end
end
