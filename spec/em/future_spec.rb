# frozen_string_literal: true

RSpec.describe "EventMachine::Deferrable.future" do
  it "returns a value that is not a deferrable unchanged" do
    expect(EM::Deferrable.future(42)).to eq(42)
    expect(EM::Deferrable.future(nil)).to be_nil
  end

  it "calls a callable argument and returns its result" do
    expect(EM::Deferrable.future(-> { :computed })).to eq(:computed)
  end

  it "attaches the block as a callback to a deferrable and returns the deferrable" do
    d = EM::DefaultDeferrable.new
    got = nil
    expect(EM::Deferrable.future(d) { |v| got = v }).to equal(d)
    d.succeed(:done)
    expect(got).to eq(:done)
  end

  it "attaches to the deferrable a callable returns" do
    d = EM::DefaultDeferrable.new
    got = nil
    expect(EM::Deferrable.future(-> { d }) { |v| got = v }).to equal(d)
    d.succeed(7)
    expect(got).to eq(7)
  end

  it "attaches cb and eb instead of the block when either is given" do
    calls = []
    ok = EM::DefaultDeferrable.new
    EM::Deferrable.future(ok, proc { |v| calls << [:cb, v] }, proc { |v| calls << [:eb, v] }) { calls << :block }
    ok.succeed(1)
    bad = EM::DefaultDeferrable.new
    EM::Deferrable.future(bad, nil, proc { |v| calls << [:eb, v] }) { calls << :block }
    bad.fail(2)
    expect(calls).to eq([[:cb, 1], [:eb, 2]])
  end

  it "runs the block at once for a deferrable that already succeeded" do
    d = EM::DefaultDeferrable.new
    d.succeed(:early)
    got = nil
    EM::Deferrable.future(d) { |v| got = v }
    expect(got).to eq(:early)
  end

  it "accepts anything that responds to set_deferred_status" do
    c = EM::Completion.new
    expect(EM::Deferrable.future(c) {}).to equal(c)
  end
end
