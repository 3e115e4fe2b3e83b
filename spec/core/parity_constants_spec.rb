# frozen_string_literal: true
require "spec_helper"

# Every constant of the real EventMachine module exists in the implementation
# under test, with the real one's value where that is a plain value and of the
# same kind (class / module) otherwise. The real gem's list comes from a child
# that loads Debian's ruby-eventmachine. em_rust may define more; never fewer.
RSpec.describe "EventMachine's constants (parity with the real gem)" do
  # Values that describe the build, not the API; each must still be a String.
  # VERSION: em_rust names the EventMachine API level it implements (1.2.7 plus
  # the 1.3 additions), Debian's gem is a 1.3.0.dev.1 snapshot. OPENSSL_VERSION:
  # EventMachine reports the OpenSSL headers it was compiled against, em_rust the
  # library it runs with. OPENSSL_LIBRARY_VERSION: the OpenSSL in use.
  BUILD_DEPENDENT = {
    "VERSION" => /\A\d+\.\d+\.\d+/,
    "OPENSSL_VERSION" => /\AOpenSSL /,
    "OPENSSL_LIBRARY_VERSION" => /\AOpenSSL /
  }.freeze

  EVENT_CODES = {
    "TimerFired" => 100, "ConnectionData" => 101, "ConnectionUnbound" => 102, "ConnectionAccepted" => 103,
    "ConnectionCompleted" => 104, "LoopbreakSignalled" => 105, "ConnectionNotifyReadable" => 106,
    "ConnectionNotifyWritable" => 107, "SslHandshakeCompleted" => 108, "SslVerify" => 109
  }.freeze

  # name => [kind, value]: kind is "Class", "Module" or the value's class name;
  # value is the plain value (Integer, String, Symbol, true/false/nil) or nil.
  def self.describe_constants(mod)
    mod.constants.sort.to_h do |name|
      v = mod.const_get(name)
      kind = case v
             when Class then "Class"
             when Module then "Module"
             else v.class.name
             end
      plain = [Integer, String, Symbol, TrueClass, FalseClass, NilClass, Float].any? { |k| v.is_a?(k) }
      [name.to_s, [kind, plain ? v : nil]]
    end
  end

  DESCRIBE_SRC = <<~'RUBY'
    out = EventMachine.constants.sort.to_h do |name|
      v = EventMachine.const_get(name)
      kind = v.is_a?(Class) ? "Class" : v.is_a?(Module) ? "Module" : v.class.name
      plain = [Integer, String, Symbol, TrueClass, FalseClass, NilClass, Float].any? { |k| v.is_a?(k) }
      [name.to_s, [kind, plain ? v : nil]]
    end
    print "\nREPORT:", JSON.generate(out), "\n"
  RUBY

  before(:all) do
    skip "the real eventmachine (ruby-eventmachine) is not installed" unless RealEM.installed?
    @real = RealEM.report(DESCRIBE_SRC)
  end

  let(:ours) { self.class.describe_constants(EventMachine) }

  it "the real gem's list is the real gem's (sanity: it has its event codes and classes)" do
    expect(@real.keys).to include("Connection", "TimerFired", "VERSION", "EM_PROTO_TLSv1_2")
    expect(@real.size).to be > 40
  end

  it "every constant of the real EventMachine exists here" do
    missing = @real.keys - ours.keys
    expect(missing).to eq([]), "missing from #{EM_IMPL}: #{missing.join(', ')}"
  end

  it "each has the same kind, and the same value where it is a plain value" do
    differ = @real.filter_map do |name, (kind, value)|
      next unless ours.key?(name)
      our_kind, our_value = ours[name]
      if BUILD_DEPENDENT.key?(name)
        next if our_kind == "String" && our_value.match?(BUILD_DEPENDENT[name])
      elsif our_kind == kind && our_value == value
        next
      end
      "#{name}: real #{kind} #{value.inspect}, #{EM_IMPL} #{our_kind} #{our_value.inspect}"
    end
    expect(differ).to eq([])
  end

  it "the event codes event_callback dispatches on have EventMachine's numbers" do
    EVENT_CODES.each do |name, code|
      expect(EventMachine.const_get(name)).to eq(code), name
      expect(@real.fetch(name)).to eq(["Integer", code]), "real #{name}"
    end
    expect(EVENT_CODES.values.uniq.size).to eq(EVENT_CODES.size)
  end
end
