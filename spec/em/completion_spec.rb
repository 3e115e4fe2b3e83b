# frozen_string_literal: true

require "em/completion"

RSpec.describe EventMachine::Completion do
  let(:c) { described_class.new }

  def run_reactor(limit = 2)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  it "starts in :unknown with an empty value, not completed" do
    expect(c.state).to eq(:unknown)
    expect(c.value).to eq([])
    expect(c.completed?).to be(false)
    expect(c.completion_states).to eq([:succeeded, :failed])
  end

  it "is a kind of EM::Deferrable" do
    expect(c).to be_a(EM::Deferrable)
  end

  describe "#succeed on the reactor thread" do
    it "runs the callbacks then the completion blocks, before returning, with the value" do
      calls = []
      run_reactor do
        c.callback { |*v| calls << [:cb, v] }
        c.completion { |*v| calls << [:done, v] }
        c.errback { calls << :eb }
        c.succeed(1, 2)
        calls << :returned
        EM.stop
      end
      expect(calls).to eq([[:cb, [1, 2]], [:done, [1, 2]], :returned])
      expect(c.state).to eq(:succeeded)
      expect(c.value).to eq([1, 2])
      expect(c.completed?).to be(true)
    end

    it "runs callbacks oldest first, each once" do
      calls = []
      run_reactor do
        c.callback { calls << 1 }
        c.callback { calls << 2 }
        c.succeed
        c.succeed
        EM.stop
      end
      expect(calls).to eq([1, 2])
    end
  end

  describe "#fail on the reactor thread" do
    it "runs the errbacks and completion blocks, never the callbacks, even on a later #succeed" do
      calls = []
      run_reactor do
        c.callback { calls << :cb }
        c.errback { |*v| calls << [:eb, v] }
        c.completion { |*v| calls << [:done, v] }
        c.fail(:why)
        c.succeed
        EM.stop
      end
      expect(calls).to eq([[:eb, [:why]], [:done, [:why]]])
      expect(c.state).to eq(:succeeded) # the later succeed changes the state, running nothing
    end
  end

  describe "blocks added once completed" do
    it "runs callbacks and completion blocks at once, with the value, and ignores errbacks" do
      calls = []
      run_reactor do
        c.succeed(:v)
        expect(c.callback { |v| calls << [:cb, v] }).to equal(c)
        expect(c.errback { calls << :eb }).to equal(c)
        c.completion { |v| calls << [:done, v] }
        EM.stop
      end
      expect(calls).to eq([[:cb, :v], [:done, :v]])
    end

    it "run at once even outside the reactor" do
      c.instance_variable_set(:@state, :succeeded) # as after the scheduled change
      got = nil
      c.callback { got = :ran }
      expect(got).to eq(:ran)
    end

    it "ignores statebacks for other states (not raising even without a block)" do
      run_reactor do
        c.fail
        expect { c.stateback(:connected) }.not_to raise_error
        expect { c.callback }.not_to raise_error
        EM.stop
      end
    end
  end

  describe "#change_state and #stateback" do
    it "runs statebacks on entering their state, once, and keeps others pending" do
      calls = []
      run_reactor do
        c.stateback(:connected) { |host, port| calls << [:connected, host, port] }
        c.stateback(:closing) { calls << :closing }
        c.change_state(:connected, "h", 1)
        c.change_state(:connected, "h", 2)
        expect(c.state).to eq(:connected)
        expect(c.completed?).to be(false)
        c.stateback(:connected) { |_, port| calls << [:again, port] }
        c.change_state(:closing)
        EM.stop
      end
      expect(calls).to eq([[:connected, "h", 1], [:again, 2], :closing])
    end

    it "is also reachable as set_deferred_status, with success and failure aliases" do
      got = []
      run_reactor do
        a = described_class.new.callback { |v| got << v }
        b = described_class.new.callback { |v| got << v }
        e = described_class.new.errback { |v| got << v }
        a.set_deferred_status(:succeeded, :a)
        b.set_deferred_success(:b)
        e.set_deferred_failure(:e)
        EM.stop
      end
      expect(got).to eq([:a, :b, :e])
    end

    it "runs a completion block added in a callback" do
      calls = []
      run_reactor do
        c.callback { c.completion { calls << :nested } }
        c.succeed
        EM.stop
      end
      expect(calls).to eq([:nested])
    end

    it "honours completion_states overridden in a subclass" do
      klass = Class.new(described_class) do
        def completion_states = [:succeeded, :failed, :cancelled]
      end
      calls = []
      run_reactor do
        k = klass.new
        k.callback { calls << :cb }
        k.completion { calls << :done }
        k.change_state(:cancelled)
        expect(k.completed?).to be(true)
        k.succeed
        EM.stop
      end
      expect(calls).to eq([:done])
    end
  end

  describe "scheduling" do
    it "defers the callbacks of a change made outside the reactor to its first ticks" do
      calls = []
      c.callback { calls << :cb }
      c.succeed(1)
      expect(calls).to eq([])
      expect(c.state).to eq(:succeeded)
      run_reactor do
        EM.add_timer(0.05) { EM.stop }
      end
      expect(calls).to eq([:cb])
    end

    it "runs the callbacks of a change made on another thread on the reactor thread" do
      ran_on = nil
      run_reactor do
        c.callback { ran_on = Thread.current; EM.stop }
        Thread.new { c.succeed }
      end
      expect(ran_on).to equal(Thread.current)
    end
  end

  describe "the object and method form" do
    it "is accepted by callback, errback, completion and stateback" do
      sink = []
      run_reactor do
        c.stateback(:started, sink, :push)
        c.callback(sink, :push)
        c.completion(sink, :push)
        c.change_state(:started, :s)
        c.succeed(:ok)
        EM.stop
      end
      expect(sink).to eq([:s, :ok, :ok])
    end

    it "raises ArgumentError without a block for a pending state" do
      expect { c.callback }.to raise_error(ArgumentError)
      expect { c.errback(Object.new) }.to raise_error(ArgumentError)
    end
  end

  describe "#cancel_callback and #cancel_errback" do
    it "remove a pending block given as the same proc" do
      calls = []
      cb = proc { calls << :cb }
      eb = proc { calls << :eb }
      run_reactor do
        c.callback(&cb)
        c.errback(&eb)
        expect(c.cancel_callback(cb)).to equal(cb)
        expect(c.cancel_errback(eb)).to equal(eb)
        other = described_class.new
        other.errback(&eb)
        other.cancel_errback(&eb)
        c.succeed
        other.fail
        EM.stop
      end
      expect(calls).to eq([])
    end
  end

  describe "#timeout" do
    it "fails with the given arguments after the time, and returns an EM::Timer" do
      got = nil
      run_reactor do
        expect(c.timeout(0.05, :timeout, 1)).to be_a(EM::Timer)
        c.errback { |*v| got = v; EM.stop }
      end
      expect(got).to eq([:timeout, 1])
      expect(c.state).to eq(:failed)
    end

    it "does nothing once completed" do
      calls = []
      run_reactor do
        c.errback { calls << :eb }
        c.timeout(0.05)
        c.succeed
        EM.add_timer(0.15) { EM.stop }
      end
      expect(calls).to eq([])
      expect(c.state).to eq(:succeeded)
    end

    it "is cancelled by #cancel_timeout, which returns nil" do
      run_reactor do
        c.timeout(0.05)
        expect(c.cancel_timeout).to be_nil
        EM.add_timer(0.15) { EM.stop }
      end
      expect(c.state).to eq(:unknown)
      expect(c.cancel_timeout).to be_nil
    end

    it "still fires after a state change that does not complete" do
      run_reactor do
        c.timeout(0.05, :late)
        c.change_state(:connected)
        EM.add_timer(0.15) { EM.stop }
      end
      expect(c.state).to eq(:failed)
      expect(c.value).to eq([:late])
    end
  end
end
