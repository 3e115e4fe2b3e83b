# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::SASLauth do
  def counted(*values) = values.map { |v| [v.bytesize].pack("n") + v }.join

  it "answers each four-field request with OK or NO from validate, across split reads" do
    seen = []
    server = Class.new(EM::Connection) do
      include EM::P::SASLauth
      define_method(:validate) do |user, psw, service, realm|
        seen << [user, psw, service, realm]
        psw == "right"
      end
    end
    answers = +""
    bytes = counted("alice", "right", "imap", "") + counted("bob", "wrong", "smtp", "EXAMPLE")
    run_em do
      port = em_server(server)
      client = Module.new do
        define_method(:post_init) { bytes.each_char { |c| send_data(c) } }
        define_method(:receive_data) do |d|
          answers << d
          EM.stop if answers.bytesize >= 8
        end
      end
      EM.connect("127.0.0.1", port, client)
    end
    expect(seen).to eq([%w[alice right imap] + [""], %w[bob wrong smtp EXAMPLE]])
    expect(answers).to eq("\0\x02OK\0\x02NO".b)
  end

  describe "SASLauthclient" do
    it "sends counted fields and settles each query from the answers, in order" do
      requests = +""
      expected = (counted("alice", "pw1", "svc", "") + counted("bobby", "pw2", "svc", "")).b
      @peer = ProtocolHelpers::FakePeer.new do |sock, _|
        requests << sock.readpartial(1000) until requests.bytesize >= expected.bytesize
        sock.write("\0\x02OK\0\x02NO".b)
        sleep 0.5
      end
      outcomes = []
      run_em do
        client = Class.new(EM::Connection) do
          include EM::P::SASLauthclient
        end
        c = EM.connect("127.0.0.1", @peer.port, client)
        [%w[alice pw1], %w[bobby pw2]].each do |u, p|
          d = c.validate?(u, p, "svc")
          d.callback { outcomes << [u, :ok]; EM.stop if outcomes.size == 2 }
          d.errback { outcomes << [u, :no]; EM.stop if outcomes.size == 2 }
        end
      end
      @peer.close
      expect(outcomes).to eq([%w[alice ok], %w[bobby no]].map { |u, s| [u, s.to_sym] })
      expect(requests).to eq(expected)
    end
  end
end
