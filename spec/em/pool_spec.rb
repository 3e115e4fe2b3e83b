# frozen_string_literal: true

RSpec.describe EventMachine::Pool do
  let(:pool) { described_class.new }

  def run_reactor(limit = 2)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  it "hands queued work a resource and takes it back when the deferrable succeeds" do
    used = []
    run_reactor do
      pool.add(:r1)
      deferrables = []
      2.times do |i|
        pool.perform do |res|
          used << [i, res]
          EM::DefaultDeferrable.new.tap { |d| deferrables << d }
        end
      end
      expect(used).to eq([[0, :r1]])
      expect(pool.num_waiting).to eq(1)
      deferrables.first.succeed
      expect(used).to eq([[0, :r1], [1, :r1]])
      expect(pool.num_waiting).to eq(0)
      EM.stop
    end
  end

  it "returns a resource whose work failed to the pool when there is no on_error" do
    used = []
    run_reactor do
      pool.add(:r)
      pool.perform { |r| used << r; EM::DefaultDeferrable.new.tap(&:fail) }
      pool.perform { |r| used << r; EM::DefaultDeferrable.new }
      EM.stop
    end
    expect(used).to eq([:r, :r])
  end

  it "gives a resource whose work failed to on_error instead, dropping it from the contents" do
    errors = []
    used = []
    run_reactor do
      pool.add(:r)
      pool.on_error { |r| errors << r }
      pool.perform { |r| used << r; EM::DefaultDeferrable.new.tap(&:fail) }
      pool.perform { |r| used << r; EM::DefaultDeferrable.new }
      expect(pool.contents).to eq([])
      expect(pool.num_waiting).to eq(1)
      EM.stop
    end
    expect(errors).to eq([:r])
    expect(used).to eq([:r])
  end

  it "accepts an EM::Completion as the work's deferrable" do
    used = []
    run_reactor do
      pool.add(:r)
      pool.perform { |r| used << r; EM::Completion.new.tap(&:succeed) }
      pool.perform { |r| used << r; EM::Completion.new }
      EM.stop
    end
    expect(used).to eq([:r, :r])
  end

  it "accepts the work as an object and method" do
    worker = Class.new do
      attr_reader :got

      def work(res)
        @got = res
        EM::DefaultDeferrable.new
      end
    end.new
    run_reactor do
      pool.add(:r)
      pool.perform(worker, :work)
      EM.stop
    end
    expect(worker.got).to eq(:r)
  end

  it "raises ArgumentError, out of EM.run, when work returns no deferrable, and keeps the resource" do
    expect do
      run_reactor do
        pool.add(:r)
        pool.perform { |_| :not_a_deferrable }
      end
    end.to raise_error(ArgumentError, "deferrable expected from work")
    expect(pool.contents).to eq([:r])
  end

  it "lists its resources in contents, as a copy" do
    run_reactor do
      pool.add(:a)
      pool.add(:b)
      list = pool.contents
      list.clear
      expect(pool.contents).to eq([:a, :b])
      EM.stop
    end
  end

  it "skips a removed resource when it comes back, and stops listing it" do
    used = []
    run_reactor do
      pool.add(:a)
      pool.add(:b)
      pool.remove(:a)
      expect(pool.removed?(:a)).to be(true)
      expect(pool.contents).to eq([:b])
      pool.perform { |r| used << r; EM::DefaultDeferrable.new }
      expect(pool.removed?(:a)).to be(false)
      EM.stop
    end
    expect(used).to eq([:b])
  end

  it "raises ArgumentError from perform and on_error without a callback" do
    expect { pool.perform }.to raise_error(ArgumentError)
    expect { pool.on_error }.to raise_error(ArgumentError)
  end
end
