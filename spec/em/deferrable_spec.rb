# frozen_string_literal: true

require "stringio"

RSpec.describe EventMachine::Deferrable do
  let(:d) { EM::DefaultDeferrable.new }

  def run_reactor(limit = 2)
    EM.run do
      EM.add_timer(limit) { EM.stop }
      yield
    end
  end

  describe "#callback" do
    it "runs the callbacks, oldest first, with the success arguments, before #succeed returns" do
      calls = []
      d.callback { |a, b| calls << [:first, a, b] }
      d.callback { |a, b| calls << [:second, a, b] }
      expect(calls).to eq([])
      d.succeed(1, 2)
      expect(calls).to eq([[:first, 1, 2], [:second, 1, 2]])
    end

    it "returns self, or nil without a block" do
      expect(d.callback {}).to equal(d)
      expect(d.callback).to be_nil
      expect(d.errback {}).to equal(d)
      expect(d.errback).to be_nil
    end

    it "runs a callback added after success at once, with the success arguments" do
      d.succeed(:x, :y)
      got = nil
      d.callback { |*args| got = args }
      expect(got).to eq([:x, :y])
    end

    it "never runs callbacks on failure, nor ones added after it" do
      calls = []
      d.callback { calls << :before }
      d.fail
      d.callback { calls << :after }
      d.succeed
      expect(calls).to eq([])
    end

    it "runs each callback only once, however often the status is set" do
      count = 0
      d.callback { count += 1 }
      d.succeed
      d.succeed
      d.set_deferred_status(:succeeded)
      expect(count).to eq(1)
    end

    it "passes no arguments when succeeded without any" do
      got = :unset
      d.callback { |*args| got = args }
      d.succeed
      expect(got).to eq([])
    end

    it "raises ArgumentError from #succeed when a lambda callback's arity does not match" do
      d.callback(&->(a, b) {})
      expect { d.succeed(1) }.to raise_error(ArgumentError)
    end

    it "treats a status reset to nil as not settled (an idiom of em-redis and others)" do
      d.succeed
      d.instance_variable_set(:@deferred_status, nil)
      ran = false
      d.callback { ran = true }
      expect(ran).to be(false)
      d.succeed
      expect(ran).to be(true)
    end
  end

  describe "#errback" do
    it "runs the errbacks, oldest first, with the failure arguments" do
      calls = []
      d.errback { |e| calls << [:first, e] }
      d.errback { |e| calls << [:second, e] }
      d.fail(:boom)
      expect(calls).to eq([[:first, :boom], [:second, :boom]])
    end

    it "runs an errback added after failure at once" do
      d.fail(:late)
      got = nil
      d.errback { |e| got = e }
      expect(got).to eq(:late)
    end

    it "never runs errbacks on success, nor ones added after it" do
      calls = []
      d.errback { calls << :before }
      d.succeed
      d.errback { calls << :after }
      d.fail
      expect(calls).to eq([])
    end
  end

  describe "#set_deferred_status" do
    it "takes :succeeded and :failed like #succeed and #fail" do
      ok = EM::DefaultDeferrable.new
      bad = EM::DefaultDeferrable.new
      got = []
      ok.callback { |v| got << [:ok, v] }
      bad.errback { |v| got << [:bad, v] }
      ok.set_deferred_status(:succeeded, 1)
      bad.set_deferred_status(:failed, 2)
      expect(got).to eq([[:ok, 1], [:bad, 2]])
    end

    it "leaves the blocks pending for any other status" do
      calls = []
      d.callback { calls << :cb }
      d.errback { calls << :eb }
      d.set_deferred_status(:unknown)
      d.set_deferred_status(:pending, 1)
      expect(calls).to eq([])
      d.callback { calls << :cb2 }
      d.succeed
      expect(calls).to eq([:cb, :cb2])
    end

    it "lets a callback set the status again, changing the arguments of the callbacks still pending" do
      got = []
      d.callback { |v| got << [:first, v]; d.succeed(v * 10) }
      d.callback { |v| got << [:second, v] }
      d.succeed(1)
      expect(got).to eq([[:first, 1], [:second, 10]])
    end

    it "runs a callback added by a running callback at once, before the remaining ones" do
      got = []
      d.callback do |v|
        got << [:first, v]
        d.callback { |w| got << [:added, w] }
      end
      d.callback { |v| got << [:second, v] }
      d.succeed(:v)
      expect(got).to eq([[:first, :v], [:added, :v], [:second, :v]])
    end

    it "drops pending errbacks on success and pending callbacks on failure" do
      calls = []
      d.errback { calls << :eb }
      d.succeed
      d.fail
      expect(calls).to eq([])

      other = EM::DefaultDeferrable.new
      other.callback { calls << :cb }
      other.fail
      other.succeed
      expect(calls).to eq([])
    end

    it "runs the errbacks when a callback fails the deferrable, as they are dropped only after the callbacks" do
      calls = []
      d.errback { |why| calls << [:eb, why] }
      d.callback { d.fail(:changed_mind) }
      d.callback { calls << :second_cb }
      d.succeed
      expect(calls).to eq([[:eb, :changed_mind]])
    end

    it "keeps the blocks in @callbacks and @errbacks, which some gems inspect" do
      d.callback {}
      d.errback {}
      expect(d.instance_variable_get(:@callbacks).size).to eq(1)
      expect(d.instance_variable_get(:@errbacks).size).to eq(1)
      d.succeed
      expect(d.instance_variable_get(:@deferred_status)).to eq(:succeeded)
      expect(d.instance_variable_get(:@callbacks)).to eq([])
      expect(d.instance_variable_get(:@errbacks)).to eq([])
    end
  end

  describe "aliases" do
    it "set_deferred_success is succeed and set_deferred_failure is fail" do
      got = []
      a = EM::DefaultDeferrable.new.callback { |v| got << v }
      b = EM::DefaultDeferrable.new.errback { |v| got << v }
      a.set_deferred_success(:s)
      b.set_deferred_failure(:f)
      expect(got).to eq([:s, :f])
    end
  end

  describe "#cancel_callback and #cancel_errback" do
    it "remove a pending block and return it" do
      calls = []
      cb = proc { calls << :cb }
      eb = proc { calls << :eb }
      d.callback(&cb)
      d.errback(&eb)
      expect(d.cancel_callback(cb)).to equal(cb)
      expect(d.cancel_errback(eb)).to equal(eb)
      d.succeed
      other = EM::DefaultDeferrable.new
      other.errback(&eb)
      other.cancel_errback(eb)
      other.fail
      expect(calls).to eq([])
    end

    it "return nil for a block that is not pending" do
      expect(d.cancel_callback(proc {})).to be_nil
      expect(d.cancel_errback(proc {})).to be_nil
    end
  end

  describe "#timeout" do
    it "fails the deferrable with the given arguments when the time passes" do
      got = nil
      run_reactor do
        expect(d.timeout(0.05, :timed_out, 42)).to equal(d)
        d.errback { |*args| got = args; EM.stop }
      end
      expect(got).to eq([:timed_out, 42])
    end

    it "is cancelled by settling the deferrable first" do
      calls = []
      run_reactor do
        d.timeout(0.05)
        d.errback { calls << :eb }
        d.callback { calls << :cb }
        d.succeed
        EM.add_timer(0.15) { EM.stop }
      end
      expect(calls).to eq([:cb])
    end

    it "is cancelled by #cancel_timeout, which returns nil" do
      failed = false
      run_reactor do
        d.errback { failed = true }
        d.timeout(0.05)
        expect(d.cancel_timeout).to be_nil
        EM.add_timer(0.15) { EM.stop }
      end
      expect(failed).to be(false)
      expect(d.cancel_timeout).to be_nil
    end

    it "replaces an earlier timeout" do
      got = []
      run_reactor do
        d.errback { |why| got << why }
        d.timeout(0.05, :first)
        d.timeout(0.15, :second)
        EM.add_timer(0.1) { got << :checkpoint }
        EM.add_timer(0.3) { EM.stop }
      end
      expect(got).to eq([:checkpoint, :second])
    end
  end

  describe EventMachine::DefaultDeferrable do
    it "is a plain class that includes EM::Deferrable" do
      expect(described_class.ancestors).to include(EM::Deferrable)
      expect(described_class.new).to be_a(EM::Deferrable)
    end
  end

  describe "EM::Deferrable::Pool" do
    it "is the deprecated name of EM::Pool" do
      saved = $stderr
      $stderr = StringIO.new
      begin
        expect(EM::Deferrable::Pool).to equal(EM::Pool)
      ensure
        $stderr = saved
      end
    end
  end
end
