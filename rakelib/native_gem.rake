# frozen_string_literal: true
# The platform gem: em_rust-VERSION-<platform>.gem holding the extension compiled
# for this Ruby at lib/em_rust/<major.minor>/em_rust.so (rb-sys's layout, which
# lib/em_rust/native.rb loads), so installing it needs no cargo and no libclang.
# The source gem (em_rust.gemspec, built on install by extconf.rb) is unchanged.
# docs: the "Installing without Rust" part of README.md, with the other platforms.
require "rubygems/package"
require "fileutils"

module NativeGem
  ROOT = File.expand_path("..", __dir__)
  ABI = RUBY_VERSION[/\A\d+\.\d+/]
  STAGE = File.join(ROOT, "tmp", "native-gem")

  extend Rake::FileUtilsExt
  module_function

  def source_spec = Gem::Specification.load(File.join(ROOT, "em_rust.gemspec"))

  def path = File.join(ROOT, "pkg", "em_rust-#{source_spec.version}-#{Gem::Platform.local}.gem")

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
    # Debug info is most of the library's size; a gem ships without it.
    sh "strip", "--strip-debug", "-o", File.join(STAGE, so), File.join(ROOT, "lib/em_rust/em_rust.#{RbConfig::CONFIG['DLEXT']}")
    spec.platform = Gem::Platform.local
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
