# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::TcpConnectTester do
  it "succeeds with the time it took when the port accepts, and closes" do
    outcome = nil
    accepted = false
    run_em do
      port = em_server(Module.new { define_method(:unbind) { EM.stop } }) { accepted = true }
      t = described_class.test("127.0.0.1", port)
      t.callback { |secs| outcome = [:open, secs] }
      t.errback { |secs| outcome = [:closed, secs]; EM.stop }
    end
    expect(outcome.first).to eq(:open)
    expect(outcome.last).to be_a(Float).and be >= 0
    expect(accepted).to be(true)
  end

  it "fails with the time it took when the port is closed" do
    outcome = nil
    run_em do
      t = described_class.test("127.0.0.1", closed_port)
      t.callback { outcome = :open; EM.stop }
      t.errback { |secs| outcome = [:closed, secs]; EM.stop }
    end
    expect(outcome.first).to eq(:closed)
    expect(outcome.last).to be_a(Float)
  end
end
