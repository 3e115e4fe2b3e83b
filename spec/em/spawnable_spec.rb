# frozen_string_literal: true

RSpec.describe "EventMachine.spawn" do
  def run_reactor(limit = 2)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  it "returns an EM::SpawnedProcess" do
    expect(EM.spawn {}).to be_a(EM::SpawnedProcess)
  end

  it "raises TypeError without a block" do
    expect { EM.spawn }.to raise_error(TypeError)
  end

  it "runs the block with the notify arguments on a later tick, with self the process" do
    got = nil
    run_reactor do
      process = EM.spawn { |a, b| got = [a, b, self]; EM.stop }
      process.notify(1, 2)
      expect(got).to be_nil
    end
    expect(got.first(2)).to eq([1, 2])
    expect(got.last).to be_a(EM::SpawnedProcess)
  end

  it "runs the block once per notification, resume and run being notify" do
    got = []
    run_reactor do
      process = EM.spawn { |x| got << x; EM.stop if got.size == 3 }
      process.notify(:n)
      process.resume(:r)
      process.run(:u)
    end
    expect(got).to eq([:n, :r, :u])
  end

  it "checks the block's arity strictly, like a method" do
    expect do
      run_reactor { EM.spawn { |x| x }.notify }
    end.to raise_error(ArgumentError)
  end

  it "lets the block notify its own process" do
    count = 0
    run_reactor do
      EM.spawn { |n| count += 1; n.zero? ? EM.stop : notify(n - 1) }.notify(3)
    end
    expect(count).to eq(4)
  end

  it "passes messages between processes (ping-pong)" do
    log = []
    run_reactor do
      pong = EM.spawn { |ping, n| log << [:pong, n]; ping.notify(self, n) }
      ping = EM.spawn do |pong_process, n|
        log << [:ping, n]
        n == 2 ? EM.stop : pong_process.notify(self, n + 1)
      end
      ping.notify(pong, 0)
    end
    expect(log).to eq([[:ping, 0], [:pong, 1], [:ping, 1], [:pong, 2], [:ping, 2]])
  end

  describe "EM.yield" do
    it "sets the block that runs on the next notification" do
      got = []
      run_reactor do
        process = EM.spawn do |x|
          got << [:first, x]
          EM.yield { |y| got << [:second, y]; EM.stop }
        end
        process.notify(1)
        EM.add_timer(0.02) { process.notify(2) }
      end
      expect(got).to eq([[:first, 1], [:second, 2]])
    end
  end

  describe "EM.yield_and_notify" do
    it "sets the next block and runs it straight away with no arguments" do
      got = []
      run_reactor do
        process = EM.spawn do |x|
          got << [:first, x]
          EM.yield_and_notify { got << :second; EM.stop }
        end
        process.notify(1)
      end
      expect(got).to eq([[:first, 1], :second])
    end
  end

  describe "EM::SpawnedProcess#set_receiver" do
    it "replaces the block" do
      got = nil
      run_reactor do
        process = EM.spawn { got = :old }
        process.set_receiver(proc { got = :new; EM.stop })
        process.notify
      end
      expect(got).to eq(:new)
    end
  end
end
