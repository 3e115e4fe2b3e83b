# frozen_string_literal: true
require "spec_helper"
require "json"

# Programs require these after (or instead of re-requiring) 'eventmachine'. In
# em_rust mode every one must resolve to em_rust's own file under lib/ and no
# file of the real gem may be loaded.
RSpec.describe "require paths" do
  features = %w[
    em/version em/callback em/timers em/deferrable em/deferrable/pool em/future em/completion
    em/queue em/channel em/iterator em/pool em/spawnable em/tick_loop em/threaded_resource
  ]

  def lib_dir = CoreHelpers::LIB_DIR

  # In a fresh child: loads the implementation, requires each feature, and
  # reports where each one was loaded from.
  def report_for(features)
    code = <<~RUBY
      require "json"
      out = {}
      #{features.inspect}.each do |f|
        begin
          require f
          out[f] = $LOADED_FEATURES.grep(%r{/\#{Regexp.escape(f)}\\.rb\\z})
        rescue LoadError => e
          out[f] = "LoadError: \#{e.message}"
        end
      end
      out["__real_em__"] = $LOADED_FEATURES.grep(#{REAL_EM_FILES.inspect})
      print "\nREPORT:", JSON.generate(out), "\n"
    RUBY
    r = run_ruby(code)
    expect(r.success?).to be(true), r.output
    JSON.parse(r.output[/^REPORT:(.*)$/, 1] || raise("no report in:\n#{r.output}"))
  end

  it "resolves each of #{features.join(', ')}" do
    report = report_for(features)
    features.each do |f|
      paths = report.fetch(f)
      expect(paths).to be_an(Array), "#{f}: #{paths}"
      expect(paths.size).to eq(1), "#{f}: #{paths.inspect}"
      if em_rust?
        expect(paths.first).to eq(File.join(lib_dir, "#{f}.rb"))
      else
        expect(paths.first).to match(%r{/vendor_ruby/#{Regexp.escape(f)}\.rb\z})
      end
    end
    expect(report["__real_em__"]).to eq([]) if em_rust?
  end

  it "in this process, each already resolves to the implementation under test" do
    features.each { |f| require f }
    features.each do |f|
      paths = $LOADED_FEATURES.grep(%r{/#{Regexp.escape(f)}\.rb\z})
      expect(paths.size).to eq(1), "#{f}: #{paths.inspect}"
      expect(paths.first).to start_with(lib_dir + "/") if em_rust?
    end
    expect($LOADED_FEATURES.grep(REAL_EM_FILES)).to eq([]) if em_rust?
  end

  describe "require 'eventmachine'", em_rust_only: "checks that em_rust's lib/eventmachine.rb takes the name" do
    it "with em_rust's lib first on the load path loads em_rust and nothing of the real gem" do
      code = <<~'RUBY'
        require "eventmachine"
        print [defined?(EventMachine::EM_RUST_VERSION).nil?, $LOADED_FEATURES.grep(%r{/eventmachine\.rb\z}),
               EM.library_type].inspect
      RUBY
      r = run_ruby(code)
      # run_ruby already required em_rust; also try it bare:
      bare = IO.popen([RbConfig.ruby, "-I", lib_dir, "-e", code + ';print " ", $LOADED_FEATURES.grep(' +
                       REAL_EM_FILES.inspect + ').inspect'], err: %i[child out], &:read)
      expect(r.output).to eq("[false, [#{File.join(lib_dir, 'eventmachine.rb').inspect}], :extension]")
      expect(bare).to eq("[false, [#{File.join(lib_dir, 'eventmachine.rb').inspect}], :extension] []")
    end
  end
end
