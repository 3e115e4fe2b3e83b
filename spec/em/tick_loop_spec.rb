# frozen_string_literal: true

RSpec.describe EventMachine::TickLoop do
  def run_reactor(limit = 2)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  it "is created stopped" do
    expect(described_class.new {}.stopped?).to be(true)
  end

  it "raises ArgumentError without a callback" do
    expect { described_class.new }.to raise_error(ArgumentError)
  end

  describe "EM.tick_loop" do
    it "calls the block once per tick until it returns :stop, then runs the on_stop callbacks" do
      items = [1, 2, 3]
      seen = []
      stops = []
      run_reactor do
        loop = EM.tick_loop { items.empty? ? :stop : seen << items.shift }
        expect(loop).to be_a(described_class)
        expect(loop.stopped?).to be(false)
        expect(seen).to eq([]) # nothing runs inside tick_loop itself
        loop.on_stop { stops << :first }
        loop.on_stop { stops << :second; EM.stop }
      end
      expect(seen).to eq([1, 2, 3])
      expect(stops).to eq([:first, :second])
    end

    it "gives other next_tick work a turn between calls" do
      order = []
      run_reactor do
        n = 0
        EM.tick_loop { (n += 1) > 3 ? :stop : order << :loop }.on_stop { EM.stop }
        EM.next_tick { order << :tick; EM.next_tick { order << :tick } }
      end
      expect(order).to eq([:loop, :tick, :loop, :tick, :loop])
    end
  end

  describe "#stop" do
    it "ends the loop from outside and runs the on_stop callbacks once" do
      count = 0
      stops = 0
      run_reactor do
        loop = EM.tick_loop { count += 1 }
        loop.on_stop { stops += 1 }
        EM.add_timer(0.05) do
          loop.stop
          loop.stop
          expect(loop.stopped?).to be(true)
          seen = count
          EM.add_timer(0.05) do
            expect(count).to eq(seen)
            EM.stop
          end
        end
      end
      expect(count).to be > 0
      expect(stops).to eq(1)
    end
  end

  describe "#on_stop" do
    it "runs at once on a stopped loop" do
      ran = false
      described_class.new {}.on_stop { ran = true }
      expect(ran).to be(true)
    end

    it "accepts an object and method" do
      calls = []
      described_class.new {}.on_stop(calls, :push)
      expect(calls).to eq([]) # Array#push called with no arguments
      expect { described_class.new {}.on_stop(calls, :no_such_method) }.to raise_error(NoMethodError)
    end

    it "runs a callback added by an on_stop callback during the same stop" do
      calls = []
      run_reactor do
        loop = EM.tick_loop { :stop }
        loop.on_stop do
          calls << :first
          loop.start
          loop.on_stop { calls << :added; loop.stop; EM.stop }
        end
      end
      expect(calls).to eq([:first, :added])
    end
  end

  describe "#start" do
    it "returns self and raises ArgumentError when already running" do
      run_reactor do
        loop = described_class.new { :stop }
        expect(loop.start).to equal(loop)
        expect { loop.start }.to raise_error(ArgumentError, "double start")
        loop.on_stop { EM.stop }
      end
    end

    it "can start again after a stop" do
      runs = 0
      run_reactor do
        loop = described_class.new { runs += 1; :stop }
        loop.start
        loop.on_stop do
          EM.next_tick do
            loop.start
            loop.on_stop { EM.stop }
          end
        end
      end
      expect(runs).to eq(2)
    end
  end
end
