# frozen_string_literal: true
require "spec_helper"
require "json"

# How the real gems find EventMachine. Each runs in a fresh ruby that has NOT
# required anything yet (em_rust: only lib/ on the load path, as with
# `ruby -I lib` or a Gemfile), so the gem's own `require 'eventmachine'` —
# after RubyGems has activated the gem and its dependencies, which include the
# Debian `eventmachine` gemspec — decides which implementation is loaded.
RSpec.describe "loading the real gems", :integration, timeout: 20 do
  def load_report(prelude, features)
    code = <<~RUBY
      require "json"
      #{prelude}
      errors = {}
      #{features.inspect}.each do |f|
        require f
      rescue Exception => e
        errors[f] = "\#{e.class}: \#{e.message.lines.first}"
      end
      puts "REPORT " + JSON.generate(
        "em_rust" => defined?(EventMachine::EM_RUST_VERSION) ? true : false,
        "eventmachine_rb" => $LOADED_FEATURES.grep(%r{/eventmachine\\.rb\\z}),
        "real_em_files" => $LOADED_FEATURES.grep(#{REAL_EM_FILES.inspect}),
        "eventmachine_spec_activated" => Gem.loaded_specs.key?("eventmachine"),
        "errors" => errors
      )
    RUBY
    argv = em_rust? ? [RbConfig.ruby, "-I", CoreHelpers::LIB_DIR, "-e", code] : [RbConfig.ruby, "-e", code]
    r = run_command(argv, timeout: 15, env: child_env)
    JSON.parse(r.output[/^REPORT (.*)$/, 1] || raise("no report (exit #{r.status.inspect}):\n#{r.output}"))
  end

  def expect_implementation_kept(report)
    if em_rust?
      expect(report["em_rust"]).to be(true)
      expect(report["eventmachine_rb"]).to eq([File.join(CoreHelpers::LIB_DIR, "eventmachine.rb")])
      expect(report["real_em_files"]).to eq([])
    else
      expect(report["eventmachine_rb"]).to eq(["/usr/lib/ruby/vendor_ruby/eventmachine.rb"])
    end
  end

  IntegrationHelpers::GEMS.each do |name, spec|
    it "#{spec[:features].join(', ')} (#{spec[:package]}) loads on the implementation under test" do
      skip("Debian package #{spec[:package]} not installed") unless IntegrationHelpers.gem_installed?(name)
      report = load_report("", spec[:features])
      expect(report["errors"]).to eq({})
      expect_implementation_kept(report)
    end
  end

  it "keeps the implementation when the gems are activated with Kernel#gem first" do
    skip("thin / em-http-request not installed") unless %i[thin em_http].all? { |n| IntegrationHelpers.gem_installed?(n) }
    report = load_report('gem "thin"; gem "em-http-request"', %w[thin em-http])
    expect(report["eventmachine_spec_activated"]).to be(true) # the Debian gemspec: its lib/ does not exist
    expect(report["errors"]).to eq({})
    expect_implementation_kept(report)
  end
end
