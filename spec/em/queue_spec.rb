# frozen_string_literal: true

RSpec.describe EventMachine::Queue do
  let(:q) { described_class.new }

  def run_reactor(limit = 2)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  it "starts empty" do
    expect(q.empty?).to be(true)
    expect(q.size).to eq(0)
    expect(q.num_waiting).to eq(0)
  end

  it "hands a queued item to pop at once on the reactor thread" do
    got = []
    run_reactor do
      q.push(:a)
      expect(q.size).to eq(1)
      expect(q.pop { |item| got << item }).to be_nil
      expect(got).to eq([:a])
      expect(q.empty?).to be(true)
      EM.stop
    end
  end

  it "pops in FIFO order, one item per pop" do
    got = []
    run_reactor do
      q.push(1, 2)
      q << 3
      expect(q.size).to eq(3)
      3.times { q.pop { |item| got << item } }
      EM.stop
    end
    expect(got).to eq([1, 2, 3])
  end

  it "keeps pops waiting until items are pushed, serving them in order" do
    got = []
    run_reactor do
      q.pop { |item| got << [:first, item] }
      q.pop { |item| got << [:second, item] }
      expect(q.num_waiting).to eq(2)
      expect(got).to eq([])
      q.push(:x, :y, :z)
      expect(q.num_waiting).to eq(0)
      expect(q.size).to eq(1)
      EM.stop
    end
    expect(got).to eq([[:first, :x], [:second, :y]])
  end

  it "lets a pop callback pop again (the usual consumer loop)" do
    got = []
    run_reactor do
      consume = proc do |item|
        got << item
        got.size == 3 ? EM.stop : q.pop(&consume)
      end
      q.pop(&consume)
      q.push(1)
      EM.next_tick { q.push(2, 3) }
    end
    expect(got).to eq([1, 2, 3])
  end

  it "accepts an object and method as the pop callback" do
    sink = []
    run_reactor do
      q.push(:item)
      q.pop(sink, :push)
      EM.stop
    end
    expect(sink).to eq([:item])
  end

  it "raises ArgumentError from pop without a callback" do
    expect { q.pop }.to raise_error(ArgumentError)
  end

  it "delivers items pushed from another thread on the reactor thread" do
    got = nil
    run_reactor do
      q.pop do |item|
        got = [item, Thread.current]
        EM.stop
      end
      Thread.new { q.push(:from_thread) }
    end
    expect(got).to eq([:from_thread, Thread.current])
  end

  it "applies pushes made before the reactor runs once it does" do
    q.push(:early)
    expect(q.size).to eq(0) # scheduled, not applied yet
    got = nil
    run_reactor do
      EM.add_timer(0.01) do
        q.pop { |item| got = item }
        EM.stop
      end
    end
    expect(got).to eq(:early)
  end
end
