# frozen_string_literal: true

RSpec.describe "EventMachine.Callback" do
  let(:target) do
    Class.new do
      def add(a, b) = a + b

      private

      def secret(x) = [:secret, x]
    end.new
  end

  it "returns the block itself" do
    blk = proc { |x| x * 2 }
    expect(EM.Callback(&blk)).to equal(blk)
    expect(EM::Callback() { |x| x + 1 }.call(1)).to eq(2)
  end

  it "returns an object that responds to #call as it is" do
    callable = Object.new
    def callable.call(*) = :called
    expect(EM.Callback(callable)).to equal(callable)
    lam = ->(x) { x }
    expect(EM.Callback(lam)).to equal(lam)
  end

  it "prefers a callable argument to a block" do
    lam = -> { :arg }
    expect(EM.Callback(lam) { :block }).to equal(lam)
  end

  it "falls back to the block when the argument is not callable" do
    blk = proc { :block }
    expect(EM.Callback(:not_callable, &blk)).to equal(blk)
  end

  it "wraps an object and a method name in a callable that passes all arguments" do
    cb = EM.Callback(target, :add)
    expect(cb).to respond_to(:call)
    expect(cb.call(2, 3)).to eq(5)
  end

  it "reaches private methods through the object and method form" do
    expect(EM.Callback(target, :secret).call(1)).to eq([:secret, 1])
  end

  it "reports a missing method only when called" do
    cb = EM.Callback(target, :no_such_method)
    expect { cb.call }.to raise_error(NoMethodError)
  end

  it "raises ArgumentError without arguments or block" do
    expect { EM.Callback() }.to raise_error(ArgumentError)
  end

  it "raises ArgumentError for an object that does not respond to #call and no block" do
    expect { EM.Callback(Object.new) }.to raise_error(ArgumentError)
  end

  it "raises ArgumentError for a method name without an object" do
    expect { EM.Callback(nil, :puts) }.to raise_error(ArgumentError)
  end
end
