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
  # The protocol and helper files (EM::Protocols also autoloads its members).
  protocol_features = %w[
    em/buftok em/protocols em/resolver em/processes em/streamer em/io_streamer em/file_watch em/process_watch
  ] + %w[
    header_and_content httpclient httpclient2 line_and_text line_protocol linetext2 memcache object_protocol
    saslauth smtpclient smtpserver socks4 stomp tcptest
  ].map { |f| "em/protocols/#{f}" }

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

  # Each feature was loaded from exactly one file: em_rust's own under lib/ (and no
  # file of the real gem) in em_rust mode, the real gem's otherwise.
  def expect_resolved(report, features)
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

  it "resolves each of #{features.join(', ')}" do
    expect_resolved(report_for(features), features)
  end

  it "resolves each protocol and helper file (em/buftok, em/protocols/*, ...) by its EventMachine name" do
    expect_resolved(report_for(protocol_features), protocol_features)
  end

  it "Resolv, SecureRandom and EM::DNS::Resolver are there after loading it (em_rust loads the resolv library only when one is used)" do
    code = <<~'RUBY'
      before = $LOADED_FEATURES.grep(%r{/resolv\.rb\z}).size
      ok = [Resolv::DNS.name, SecureRandom.hex(4).size, EM::DNS::Resolver.name, $LOADED_FEATURES.grep(%r{/resolv\.rb\z}).size]
      print "\nREPORT:", [before, *ok].inspect, "\n"
    RUBY
    r = run_ruby(code)
    expect(r.success?).to be(true), r.output
    before, *ok = eval(r.output[/^REPORT:(.*)$/, 1]) # rubocop:disable Security/Eval -- our own child's inspect
    expect(ok).to eq(["Resolv::DNS", 8, "EventMachine::DNS::Resolver", 1])
    expect(before).to eq(em_rust? ? 0 : 1)
  end

  it "EM::P is EM::Protocols and every protocol autoloads" do
    expect(EM::P).to equal(EM::Protocols)
    names = %i[LineText2 LineAndTextProtocol LineProtocol HeaderAndContentProtocol ObjectProtocol HttpClient
               HttpClient2 SmtpClient SmtpServer Stomp SASLauth Memcache Socks4 TcpConnectTester]
    names.each { |n| expect(EM::P.const_get(n)).to be_a(Module) }
    expect(EM::P::SASLauthclient).to be_a(Module)
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

  # Every file of Debian's ruby-eventmachine package a program can require (its
  # .rb files and its two extensions, rubyeventmachine and fastfilereaderext),
  # read from `dpkg -L`. jeventmachine is JRuby's: on MRI the real gem's own file
  # raises LoadError (it requires 'java'), so no program can require it here.
  describe "every requirable file of the real ruby-eventmachine package" do
    jruby_only = %w[jeventmachine]

    let(:package_features) do
      features = RealEM.requirable_features
      skip "dpkg or ruby-eventmachine is not installed" if features.nil? || features.empty?
      features
    end

    it "the package's list is the real gem's (sanity)" do
      expect(package_features).to include("eventmachine", "rubyeventmachine", "fastfilereaderext", "em/connection",
                                          "em/protocols/smtpserver", "em/pure_ruby", "jeventmachine")
    end

    it "jeventmachine cannot be required on MRI even with the real gem" do
      report = RealEM.report(<<~'RUBY')
        begin
          require "jeventmachine"
          print "\nREPORT:", JSON.generate("loaded"), "\n"
        rescue LoadError => e
          print "\nREPORT:", JSON.generate(e.message), "\n"
        end
      RUBY
      expect(report).to match(/java/)
    end

    it "each of the others resolves to the implementation under test (em_rust's lib/ in em_rust mode)" do
      features = package_features - jruby_only
      code = <<~RUBY
        require "json"
        em_rust = defined?(EventMachine::EM_RUST_VERSION)
        out = { "__missing_dependency__" => [] }
        #{features.inspect}.each do |f|
          begin
            require f
            out[f] = $LOADED_FEATURES.grep(%r{/\#{Regexp.escape(f)}\\.(rb|so)\\z})
          rescue LoadError => e
            # A third-party library the file needs (the real postgres3 needs the
            # postgres-pr gem): the file itself was found; report where.
            raise if e.path == f || em_rust
            out[f] = [$LOAD_PATH.resolve_feature_path(f)&.last].compact
            out["__missing_dependency__"] << "\#{f}: \#{e.message}"
          end
        end
        out["__real_em__"] = $LOADED_FEATURES.grep(#{REAL_EM_FILES.inspect})
        print "\nREPORT:", JSON.generate(out), "\n"
      RUBY
      r = run_ruby(code, timeout: 20)
      expect(r.success?).to be(true), r.output
      report = JSON.parse(r.output[/^REPORT:(.*)$/, 1] || raise("no report in:\n#{r.output}"))
      vendor_dirs = [RbConfig::CONFIG["vendordir"], RbConfig::CONFIG["vendorarchdir"]]
      wrong = features.reject do |f|
        paths = report.fetch(f)
        next false unless paths.is_a?(Array) && paths.size == 1
        if em_rust?
          paths.first == File.join(lib_dir, "#{f}.rb")
        else
          vendor_dirs.any? { |d| paths.first.start_with?(d + "/") }
        end
      end
      expect(wrong.to_h { |f| [f, report[f]] }).to eq({})
      expect(report["__real_em__"]).to eq([]) if em_rust?
      expect(report["__missing_dependency__"]).to eq([]) if em_rust?
    end
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
