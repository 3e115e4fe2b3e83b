# frozen_string_literal: true
# The platform gem: em_rust-VERSION-<platform>.gem holding the extension compiled
# for this Ruby at lib/em_rust/<major.minor>/em_rust.so (rb-sys's layout, which
# lib/em_rust/native.rb loads), so installing it needs no cargo and no libclang.
# The source gem (em_rust.gemspec, built on install by extconf.rb) is unchanged.
# EM_RUST_GEM_PLATFORM overrides the platform name (e.g. arm64-darwin, whose local
# name carries the OS version). README.md's "Installing without Rust" has the
# other platforms' recipe.
require "rubygems/package"
require "fileutils"

module NativeGem
  ROOT = File.expand_path("..", __dir__)
  ABI = RUBY_VERSION[/\A\d+\.\d+/]
  STAGE = File.join(ROOT, "tmp", "native-gem")

  extend Rake::FileUtilsExt
  module_function

  def source_spec = Gem::Specification.load(File.join(ROOT, "em_rust.gemspec"))

  def platform = Gem::Platform.new(ENV.fetch("EM_RUST_GEM_PLATFORM", Gem::Platform.local.to_s))

  def path = File.join(ROOT, "pkg", "em_rust-#{source_spec.version}-#{platform}.gem")

  # Debug info is most of the library's size; a gem ships without it.
  def strip(from, to)
    flag = RbConfig::CONFIG["host_os"].include?("darwin") ? "-S" : "--strip-debug"
    sh "strip", flag, "-o", to, from
  end

  # Copies lib/ and the stripped extension into STAGE and packages them there.
  def build
    spec = source_spec
    FileUtils.rm_rf(STAGE)
    files = Dir.chdir(ROOT) { Dir["lib/**/*.rb"] + ["README.md"] }
    files.each do |f|
      FileUtils.mkdir_p(File.dirname(File.join(STAGE, f)))
      FileUtils.cp(File.join(ROOT, f), File.join(STAGE, f))
    end
    so = "lib/em_rust/#{ABI}/em_rust.#{RbConfig::CONFIG['DLEXT']}"
    FileUtils.mkdir_p(File.dirname(File.join(STAGE, so)))
    strip(File.join(ROOT, "lib/em_rust/em_rust.#{RbConfig::CONFIG['DLEXT']}"), File.join(STAGE, so))
    spec.platform = platform
    spec.extensions = []
    spec.files = files + [so]
    spec.required_ruby_version = [">= #{ABI}", "< #{ABI.succ}.dev"]
    built = Dir.chdir(STAGE) { Gem::Package.build(spec) }
    FileUtils.mkdir_p(File.dirname(path))
    FileUtils.mv(File.join(STAGE, built), path)
    puts "built #{path.delete_prefix("#{ROOT}/")} (#{(File.size(path) / 1024.0 / 1024).round(1)} MB, Ruby #{ABI} only)"
  end
end

namespace :gem do
  desc "Build pkg/em_rust-VERSION-#{Gem::Platform.local}.gem: the compiled extension for this Ruby, installs without Rust"
  task native: :compile do
    NativeGem.build
  end

  desc "Install the native gem into an empty GEM_HOME with no cargo or libclang on PATH and run a reactor from it"
  task native_check: :native do
    sh RbConfig.ruby, File.join(NativeGem::ROOT, "spec/native_gem/install_check.rb"), NativeGem.path
  end
end

# rake test also checks the platform gem installs and runs without Rust (a few seconds).
task test: "gem:native_check"
