# frozen_string_literal: true

RSpec.describe EventMachine::Channel do
  let(:ch) { described_class.new }

  def run_reactor(limit = 2)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  it "gives subscribers Integer ids counting up from 1" do
    run_reactor do
      expect(ch.subscribe {}).to eq(1)
      expect(ch.subscribe {}).to eq(2)
      expect(ch.num_subscribers).to eq(2)
      EM.stop
    end
  end

  it "passes every pushed item, in order, to every subscriber" do
    got = []
    run_reactor do
      ch.subscribe { |m| got << [:a, m] }
      ch.subscribe { |m| got << [:b, m] }
      ch.push(1, 2)
      ch << 3
      EM.stop
    end
    expect(got).to eq([[:a, 1], [:b, 1], [:a, 2], [:b, 2], [:a, 3], [:b, 3]])
  end

  it "stops delivering to an unsubscribed id" do
    got = []
    run_reactor do
      sid = ch.subscribe { |m| got << m }
      ch.push(:before)
      ch.unsubscribe(sid)
      expect(ch.num_subscribers).to eq(0)
      ch.push(:after)
      EM.stop
    end
    expect(got).to eq([:before])
  end

  it "ignores unsubscribing an unknown id" do
    run_reactor do
      ch.subscribe {}
      expect { ch.unsubscribe(99) }.not_to raise_error
      expect(ch.num_subscribers).to eq(1)
      EM.stop
    end
  end

  it "drops items pushed while nobody subscribes" do
    got = []
    run_reactor do
      ch.push(:lost)
      ch.subscribe { |m| got << m }
      ch.push(:kept)
      EM.stop
    end
    expect(got).to eq([:kept])
  end

  it "pops exactly one item, then unsubscribes that reader" do
    got = []
    run_reactor do
      ch.subscribe { |m| got << [:sub, m] }
      ch.pop { |m| got << [:pop, m] }
      expect(ch.num_subscribers).to eq(2)
      ch.push(:one, :two)
      expect(ch.num_subscribers).to eq(1)
      EM.stop
    end
    expect(got).to eq([[:sub, :one], [:pop, :one], [:sub, :two]])
  end

  it "accepts an object and method as subscriber" do
    sink = []
    run_reactor do
      ch.subscribe(sink, :push)
      ch.push(:m)
      EM.stop
    end
    expect(sink).to eq([:m])
  end

  it "raises ArgumentError from subscribe without a callback on the reactor thread" do
    run_reactor do
      expect { ch.subscribe }.to raise_error(ArgumentError)
      EM.stop
    end
  end

  it "delivers items pushed from another thread on the reactor thread" do
    got = nil
    run_reactor do
      ch.subscribe do |m|
        got = [m, Thread.current]
        EM.stop
      end
      Thread.new { ch.push(:hello) }
    end
    expect(got).to eq([:hello, Thread.current])
  end

  it "registers a subscription made outside the reactor once it runs" do
    got = []
    sid = ch.subscribe { |m| got << m }
    expect(sid).to eq(1)
    expect(ch.num_subscribers).to eq(0)
    run_reactor do
      EM.add_timer(0.01) do
        ch.push(:m)
        EM.stop
      end
    end
    expect(got).to eq([:m])
  end
end
