# frozen_string_literal: true
require "spec_helper"
require "tmpdir"
require "fileutils"
require "socket"
require "net/http"
require "json"
require "rbconfig"

# Bundler apps get em_rust without the C++ gem: compat/eventmachine is a gem
# named "eventmachine" that depends on em_rust and loads it. A temporary app with
# thin and em-http-request (Debian's gems) is installed with `bundle install
# --local` and run with `bundle exec`; every `require "eventmachine"` must land on
# em_rust, and Gemfile.lock must name no real eventmachine.
#
# Nothing touches the network: `--local`, a private GEM_HOME/HOME/app config,
# and proxies pointed at a refused loopback port while installing.
RSpec.describe "Bundler apps on the eventmachine compatibility gem",
               em_rust_only: "installs em_rust's own compat gem in place of eventmachine", timeout: 90 do
  checkout = File.expand_path("../..", __dir__)
  compat = File.join(checkout, "compat", "eventmachine")
  compat_version = "1.2.7.1"
  bundle_bin = File.join(RbConfig::CONFIG["bindir"], "bundle")
  gem_bin = File.join(RbConfig::CONFIG["bindir"], "gem")

  # Loaded in the app: what it runs on (printed as REPORT:{json}).
  report_src = <<~'RUBY'
    def em_report
      { "em_rust" => (EventMachine::EM_RUST_VERSION if defined?(EventMachine::EM_RUST_VERSION)),
        "real_em" => $LOADED_FEATURES.grep(%r{/vendor_ruby/(eventmachine\.rb|em/)|/(rubyeventmachine|fastfilereaderext)\.so\z}),
        "eventmachine_rb" => $LOADED_FEATURES.grep(%r{/eventmachine\.rb\z}),
        "em_loaded_spec" => Gem.loaded_specs["eventmachine"]&.then { |s| [s.version.to_s, s.full_gem_path] } }
    end
  RUBY

  before(:all) do
    missing = %w[thin em-http-request].reject { |g| Gem::Specification.find_all_by_name(g).any? }
    skip "Debian gems not installed: #{missing.join(', ')}" unless missing.empty?
    skip "no #{bundle_bin}" unless File.executable?(bundle_bin)
    @root = Dir.mktmpdir("em_bundler")
  end

  after(:all) { FileUtils.rm_rf(@root) if @root }

  # A fresh app directory with this Gemfile (a private GEM_HOME unless given).
  def make_app(name, gem_lines, gem_home: nil)
    dir = File.join(@root, name)
    FileUtils.mkdir_p(File.join(dir, "home"))
    File.write(File.join(dir, "Gemfile"), %(source "https://rubygems.org"\n) + gem_lines.join("\n") + "\n")
    { dir: dir, gemfile: File.join(dir, "Gemfile"), lock: File.join(dir, "Gemfile.lock"),
      gem_home: gem_home || File.join(dir, "gems") }
  end

  # Environment that isolates the child from this process's Bundler, the
  # user's configuration and the network.
  def app_env(app, install: false)
    env = {
      "HOME" => File.join(app[:dir], "home"), "GEM_HOME" => app[:gem_home], "GEM_PATH" => nil,
      "BUNDLE_GEMFILE" => app[:gemfile], "BUNDLE_APP_CONFIG" => File.join(app[:dir], ".bundle"),
      "BUNDLE_USER_HOME" => File.join(app[:dir], "home", ".bundle"), "BUNDLE_PATH" => nil,
      "BUNDLE_DISABLE_VERSION_CHECK" => "true", "BUNDLE_SILENCE_ROOT_WARNING" => "1", "BUNDLE_FROZEN" => nil,
      "BUNDLE_BIN_PATH" => nil, "BUNDLER_VERSION" => nil, "BUNDLER_SETUP" => nil, "RUBYOPT" => nil, "RUBYLIB" => nil
    }
    proxy = install ? "http://127.0.0.1:9" : nil
    IntegrationHelpers::PROXY_VARS.each { |v| env[v] = proxy }
    env
  end

  define_method(:bundle_install) do |app|
    r = run_command([bundle_bin, "install", "--local"], timeout: 60, env: app_env(app, install: true))
    expect(r.success?).to be(true), "bundle install --local failed:\n#{r.output}"
    r.output
  end

  # [name, version, source] of every spec in the app's Gemfile.lock, read with
  # Bundler's own parser (in a child: this process has no Bundler loaded).
  def locked_specs(app)
    code = 'require "bundler"; require "json"; l = Bundler::LockfileParser.new(File.read(ARGV[0])); ' \
           'print "\nREPORT:", JSON.generate(l.specs.map { |s| [s.name, s.version.to_s, s.source.to_s] }), "\n"'
    r = run_command([RbConfig.ruby, "-e", code, app[:lock]], timeout: 20, env: app_env(app))
    expect(r.success?).to be(true), r.output
    JSON.parse(r.output[/^REPORT:(.*)$/, 1])
  end

  def free_port
    s = TCPServer.new("127.0.0.1", 0)
    s.addr[1]
  ensure
    s&.close
  end

  # `bundle exec ruby`: Bundler.require (every gem of the Gemfile, in its
  # order), then thin serves on a free loopback port inside EM.run and
  # em-http-request fetches from it. Returns the report.
  define_method(:exec_thin_and_em_http) do |app|
    script = report_src + <<~'RUBY'
      require "bundler/setup"
      Bundler.require
      after_require = em_report
      port = Integer(ARGV[0])
      app = ->(env) { [200, { "content-type" => "text/plain" }, ["served on em_rust #{EventMachine::EM_RUST_VERSION}"]] }
      result = {}
      EM.run do
        EM.add_timer(10) { result["error"] = "timeout"; EM.stop }
        Thin::Logging.silent = true
        server = Thin::Server.new("127.0.0.1", port, app, signals: false)
        server.start
        req = EM::HttpRequest.new("http://127.0.0.1:#{port}/").get
        req.callback { result["status"] = req.response_header.status; result["body"] = req.response; server.stop!; EM.stop }
        req.errback { result["error"] = req.error.to_s; EM.stop }
      end
      print "\nREPORT:", JSON.generate(after_require.merge(result)), "\n"
    RUBY
    r = run_command([bundle_bin, "exec", "ruby", "-rjson", "-e", script, free_port.to_s], timeout: 40, env: app_env(app))
    expect(r.success?).to be(true), r.output
    JSON.parse(r.output[/^REPORT:(.*)$/, 1] || raise("no report in:\n#{r.output}"))
  end

  define_method(:expect_em_rust) do |report, eventmachine_dir|
    expect(report["em_rust"]).to eq(EventMachine::EM_RUST_VERSION)
    expect(report["real_em"]).to eq([])
    expect(report["eventmachine_rb"].size).to eq(1), report.inspect
    expect(report["eventmachine_rb"].first).to start_with(eventmachine_dir + "/").or start_with(File.join(checkout, "lib") + "/")
    expect(report["em_loaded_spec"]).to eq([compat_version, eventmachine_dir])
  end

  it "the compat gem's version is digits only and satisfies thin's and em-http-request's requirements" do
    version = Gem::Version.new(compat_version)
    expect(version).not_to be_prerelease
    expect(Gem::Requirement.new("~> 1.0", ">= 1.0.4")).to be_satisfied_by(version)
    expect(Gem::Requirement.new(">= 1.0.3")).to be_satisfied_by(version)
    spec = Dir.chdir(compat) { Gem::Specification.load(File.join(compat, "eventmachine.gemspec")) }
    expect(spec.version).to eq(version)
    expect([spec.name, spec.extensions, spec.dependencies.map(&:name)]).to eq(["eventmachine", [], ["em_rust"]])
  end

  it "path: gems — bundle install --local locks the compat gem, and `bundle exec thin` serves on em_rust" do
    app = make_app("path_app", [
                     %(gem "em_rust", path: #{checkout.inspect}),
                     %(gem "eventmachine", path: #{compat.inspect}),
                     %(gem "thin"), %(gem "em-http-request")
                   ])
    out = bundle_install(app)
    expect(out).to match(/eventmachine #{Regexp.escape(compat_version)} from source at `#{Regexp.escape(compat)}`/)

    specs = locked_specs(app)
    em = specs.select { |name, _, _| name == "eventmachine" }
    expect(em.size).to eq(1)
    expect(em.first[1]).to eq(compat_version)
    expect(em.first[2]).to include(compat)
    expect(specs.map(&:first)).to include("thin", "em-http-request", "em_rust")
    expect(File.read(app[:lock])).not_to match(/eventmachine \(1\.3\.0\.dev/)

    config = File.join(app[:dir], "config.ru")
    File.write(config, "require \"json\"\n" + report_src + <<~'RUBY')
      at_load = em_report
      run ->(env) { [200, { "content-type" => "application/json" }, [JSON.generate(at_load)]] }
    RUBY
    port = free_port
    thin = CoreHelpers::Child.new([bundle_bin, "exec", "thin", "start", "-a", "127.0.0.1", "-p", port.to_s,
                                   "-R", config], env: app_env(app))
    begin
      # thin's log goes to a pipe, block-buffered: wait for the port instead.
      deadline = CoreHelpers.now + 30
      begin
        TCPSocket.new("127.0.0.1", port).close
      rescue Errno::ECONNREFUSED
        raise "bundle exec thin is not listening on #{port} after 30s:\n#{thin.output}" if CoreHelpers.now > deadline
        sleep 0.1
        retry
      end
      http = Net::HTTP.new("127.0.0.1", port)
      http.open_timeout = http.read_timeout = 5
      res = http.get("/")
      expect(res.code).to eq("200"), res.body
      expect_em_rust(JSON.parse(res.body), compat)
    ensure
      thin.signal(:TERM) rescue nil
      thin.finish(timeout: 10) rescue thin.kill!
    end
    expect(thin.output).to match(/Thin web server/)
  end

  it "in the other Gemfile order (thin and em-http-request first, em_rust last) Bundler.require lands on em_rust" do
    app = make_app("reversed_app", [
                     %(gem "thin"), %(gem "em-http-request"),
                     %(gem "eventmachine", path: #{compat.inspect}),
                     %(gem "em_rust", path: #{checkout.inspect})
                   ])
    bundle_install(app)
    expect(locked_specs(app).select { |n, _, _| n == "eventmachine" }.map { |_, v, s| [v, s.include?(compat)] })
      .to eq([[compat_version, true]])
    report = exec_thin_and_em_http(app)
    expect_em_rust(report, compat)
    expect(report.values_at("status", "body", "error")).to eq([200, "served on em_rust #{EventMachine::EM_RUST_VERSION}", nil])
  end

  it "from a .gem file: gem build + gem install --local, then `gem \"eventmachine\"` with no path picks it" do
    skip "no #{gem_bin}" unless File.executable?(gem_bin)
    gem_home = File.join(@root, "gem_home")
    pkg = File.join(@root, "eventmachine-#{compat_version}.gem")
    app = make_app("gemfile_app", [
                     %(gem "thin"), %(gem "eventmachine"), %(gem "em-http-request"),
                     %(gem "em_rust", path: #{checkout.inspect})
                   ], gem_home: gem_home)
    env = app_env(app, install: true)
    built = run_command([gem_bin, "build", "-C", compat, "eventmachine.gemspec", "--output", pkg], timeout: 30, env: env)
    expect(built.success?).to be(true), built.output
    # em_rust itself comes from the checkout (path:); its .gem would build Rust.
    inst = run_command([gem_bin, "install", "--local", "--ignore-dependencies", "--no-document", pkg],
                       timeout: 30, env: env)
    expect(inst.success?).to be(true), inst.output
    installed = File.join(gem_home, "gems", "eventmachine-#{compat_version}")
    expect(Dir.children(installed).sort).to eq(%w[eventmachine.gemspec lib])

    bundle_install(app)
    expect(locked_specs(app).select { |n, _, _| n == "eventmachine" }.map { |_, v, _| v }).to eq([compat_version])
    report = exec_thin_and_em_http(app)
    expect_em_rust(report, installed)
    expect(report.values_at("status", "error")).to eq([200, nil])
  end

  it "control: without the compat gem the same Gemfile locks Debian's real eventmachine" do
    app = make_app("control_app", [%(gem "em_rust", path: #{checkout.inspect}), %(gem "thin")])
    bundle_install(app)
    em = locked_specs(app).select { |n, _, _| n == "eventmachine" }
    expect(em.size).to eq(1)
    expect(em.first[1]).not_to eq(compat_version)
    expect(em.first[2]).not_to include(compat)
  end
end
