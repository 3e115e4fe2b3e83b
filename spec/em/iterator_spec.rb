# frozen_string_literal: true

RSpec.describe EventMachine::Iterator do
  def run_reactor(limit = 3)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  describe ".new" do
    it "raises ArgumentError for a concurrency below 1" do
      expect { described_class.new([1], 0) }.to raise_error(ArgumentError, "concurrency must be bigger than zero")
      expect { described_class.new([1], -2) }.to raise_error(ArgumentError)
    end

    it "raises ArgumentError for a list that is neither callable nor convertible to an Array" do
      expect { described_class.new(5) }.to raise_error(ArgumentError, "argument must be a proc or an array")
    end

    it "has a concurrency of 1 unless given" do
      expect(described_class.new([]).concurrency).to eq(1)
      expect(described_class.new([], 4).concurrency).to eq(4)
    end
  end

  describe "#each" do
    it "visits every item in order, then calls after once" do
      seen = []
      afters = 0
      run_reactor do
        described_class.new(1..4).each(proc { |n, iter| seen << n; iter.next }, proc { afters += 1; EM.stop })
      end
      expect(seen).to eq([1, 2, 3, 4])
      expect(afters).to eq(1)
    end

    it "accepts the item block as a block and returns self" do
      seen = []
      run_reactor do
        it = described_class.new(%w[a b])
        expect(it.each { |x, iter| seen << x; iter.next }).to equal(it)
        EM.add_timer(0.1) { EM.stop }
      end
      expect(seen).to eq(%w[a b])
    end

    it "starts on the next tick, not inside #each" do
      seen = []
      run_reactor do
        described_class.new([1]).each(proc { |n, iter| seen << n; iter.next }, proc { EM.stop })
        expect(seen).to eq([])
      end
      expect(seen).to eq([1])
    end

    it "takes the next item only when the handle is called" do
      seen = []
      handles = []
      run_reactor do
        described_class.new([1, 2]).each(proc { |n, iter| seen << n; handles << iter }, proc { EM.stop })
        EM.add_timer(0.05) do
          expect(seen).to eq([1])
          handles.first.next
          EM.add_timer(0.05) do
            expect(seen).to eq([1, 2])
            handles.last.call # the handle is a callable too
          end
        end
      end
      expect(seen).to eq([1, 2])
    end

    it "calls after for an empty list" do
      done = false
      run_reactor do
        described_class.new([]).each(proc { raise "never" }, proc { done = true; EM.stop })
      end
      expect(done).to be(true)
    end

    it "copies the list when created" do
      list = [1, 2]
      seen = []
      run_reactor do
        iter = described_class.new(list)
        list << 3
        iter.each(proc { |n, it| seen << n; it.next }, proc { EM.stop })
      end
      expect(seen).to eq([1, 2])
    end

    it "takes items from a proc until it returns EM::Iterator::Stop" do
      source = [:a, :b]
      seen = []
      run_reactor do
        described_class.new(proc { source.empty? ? EM::Iterator::Stop : source.shift })
                       .each(proc { |x, it| seen << x; it.next }, proc { EM.stop })
      end
      expect(seen).to eq([:a, :b])
    end

    it "keeps at most concurrency items in flight" do
      in_flight = 0
      peak = 0
      seen = []
      run_reactor do
        described_class.new(1..6, 3).each(proc { |n, iter|
          in_flight += 1
          peak = [peak, in_flight].max
          seen << n
          EM.add_timer(0.02) { in_flight -= 1; iter.next }
        }, proc { EM.stop })
      end
      expect(peak).to eq(3)
      expect(seen.sort).to eq([1, 2, 3, 4, 5, 6])
    end

    it "starts more workers when the concurrency is raised during the iteration" do
      in_flight = 0
      peak = 0
      run_reactor do
        iter = described_class.new(1..8)
        iter.each(proc { |_, it|
          in_flight += 1
          peak = [peak, in_flight].max
          EM.add_timer(0.03) { in_flight -= 1; it.next }
        }, proc { EM.stop })
        EM.add_timer(0.01) { iter.concurrency = 4 }
      end
      expect(peak).to eq(4)
    end

    it "raises ArgumentError without a proc or block" do
      expect { described_class.new([1]).each }.to raise_error(ArgumentError, "proc or block required for iteration")
    end

    it "raises RuntimeError when iterated a second time" do
      run_reactor do
        iter = described_class.new([])
        iter.each { |_, it| it.next }
        expect { iter.each { |_, it| it.next } }.to raise_error(RuntimeError, "cannot iterate over an iterator more than once")
        EM.stop
      end
    end

    it "raises RuntimeError, out of EM.run, when an item's handle is called twice" do
      expect do
        run_reactor do
          described_class.new([1, 2]).each { |_, iter| iter.next; iter.next }
        end
      end.to raise_error(RuntimeError, "already completed this iteration")
    end
  end

  describe "#map" do
    it "collects the returned values in item order, whatever order they finish in" do
      result = nil
      run_reactor do
        described_class.new([3, 1, 2], 3).map(proc { |n, iter|
          EM.add_timer(n * 0.02) { iter.return(n * 10) }
        }, proc { |values| result = values; EM.stop })
      end
      expect(result).to eq([30, 10, 20])
    end

    it "refuses iter.next with NoMethodError" do
      expect do
        run_reactor do
          described_class.new([1]).map(proc { |_, iter| iter.next }, proc {})
        end
      end.to raise_error(NoMethodError, "must call #return on a map iterator")
    end

    it "raises RuntimeError when a value is returned twice for one item" do
      expect do
        run_reactor do
          described_class.new([1]).map(proc { |_, iter| iter.return(1); iter.return(2) }, proc {})
        end
      end.to raise_error(RuntimeError, "already returned a value for this iteration")
    end
  end

  describe "#inject" do
    it "threads an accumulator through the items and hands the result to after" do
      result = nil
      run_reactor do
        described_class.new(1..4).inject(0, proc { |sum, n, iter|
          EM.next_tick { iter.return(sum + n) }
        }, proc { |total| result = total; EM.stop })
      end
      expect(result).to eq(10)
    end

    it "refuses iter.next with NoMethodError" do
      expect do
        run_reactor do
          described_class.new([1]).inject({}, proc { |_, _, iter| iter.next }, proc {})
        end
      end.to raise_error(NoMethodError, "must call #return on an inject iterator")
    end
  end
end
