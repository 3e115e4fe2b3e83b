# frozen_string_literal: true

RSpec.describe EventMachine::ThreadedResource do
  def run_reactor(limit = 3)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  it "builds the resource with the block, on the calling thread" do
    built_on = nil
    res = described_class.new { built_on = Thread.current; :resource }
    expect(built_on).to equal(Thread.current)
    res.shutdown
  end

  it "runs dispatched work on its own thread and succeeds the completion on the reactor thread" do
    res = described_class.new { [] }
    worked_on = nil
    result = nil
    run_reactor do
      completion = res.dispatch do |list|
        worked_on = Thread.current
        list << :done
        list.size
      end
      expect(completion).to be_a(EM::Completion)
      completion.callback do |value|
        result = [value, Thread.current]
        EM.stop
      end
    end
    res.shutdown
    expect(result).to eq([1, Thread.current])
    expect(worked_on).not_to equal(Thread.current)
  end

  it "runs dispatched work in order, one job at a time" do
    res = described_class.new { [] }
    results = []
    run_reactor do
      3.times do |i|
        res.dispatch { |log| sleep 0.01; log << i; log.dup }.callback do |log|
          results << log
          EM.stop if results.size == 3
        end
      end
    end
    res.shutdown
    expect(results).to eq([[0], [0, 1], [0, 1, 2]])
  end

  it "fails the completion with the exception the work raised" do
    res = described_class.new { :r }
    error = nil
    run_reactor do
      res.dispatch { raise IOError, "lost" }.errback do |e|
        error = e
        EM.stop
      end
    end
    res.shutdown
    expect(error).to be_a(IOError)
    expect(error.message).to eq("lost")
  end

  it "stops its thread on shutdown" do
    before = Thread.list
    res = described_class.new { :r }
    started = Thread.list - before
    expect(started.size).to eq(1)
    res.shutdown
    expect(started.first.alive?).to be(false)
  end

  it "serves as a resource of an EM::Pool" do
    res = described_class.new { 41 }
    answer = nil
    run_reactor do
      pool = EM::Pool.new
      pool.add(res)
      pool.perform do |dispatcher|
        dispatcher.dispatch { |n| n + 1 }.callback { |v| answer = v; EM.stop }
      end
    end
    res.shutdown
    expect(answer).to eq(42)
  end
end
