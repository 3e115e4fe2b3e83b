# frozen_string_literal: true
# Installs a platform gem (rake gem:native) the way a user without Rust would and
# runs a reactor from it: `gem install --local` into an empty GEM_HOME, with a PATH
# holding only ruby and gem (no cargo, no clang or llvm-config, LIBCLANG_PATH unset),
# from a directory outside the repository. Then EM.run with a timer and a loopback
# echo, checking the extension came from the installed gem.
#   ruby spec/native_gem/install_check.rb pkg/em_rust-VERSION-PLATFORM.gem
require "rbconfig"
require "tmpdir"
require "open3"

gem_file = File.expand_path(ARGV.fetch(0) { abort "usage: #{$PROGRAM_NAME} path/to/em_rust-VERSION-PLATFORM.gem" })
abort "no such gem: #{gem_file}" unless File.exist?(gem_file)

REACTOR = <<~'RUBY'
  require "em_rust"
  so = $LOADED_FEATURES.grep(%r{/em_rust\.so\z})
  raise "extension not from GEM_HOME: #{so}" unless so.size == 1 && so[0].start_with?(ENV["GEM_HOME"])
  got = nil
  EM.run do
    server = Module.new { def receive_data(data) = send_data(data) }
    client = Module.new do
      define_method(:connection_completed) { send_data("ping") }
      define_method(:receive_data) { |data| got = data; EM.stop }
    end
    sig = EM.start_server("127.0.0.1", 0, server)
    EM.add_timer(0.01) { EM.connect("127.0.0.1", Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first, client) }
    EM.add_timer(5) { EM.stop }
  end
  raise "echo failed: #{got.inspect}" unless got == "ping"
  puts "reactor ran from #{so[0]}: timer, loopback echo #{got.inspect}"
RUBY

def step(what, env, *cmd, chdir:)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  out, status = Open3.capture2e(env, *cmd, chdir: chdir, unsetenv_others: true)
  secs = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  abort "native gem check: #{what} failed (#{status}):\n#{out}" unless status.success?
  puts format("native gem check: %s in %.2f s", what, secs)
  puts out.lines.map { |l| "  #{l}" }.join unless out.strip.empty?
end

Dir.mktmpdir("em_rust-native-gem") do |dir|
  bin = File.join(dir, "bin")
  Dir.mkdir(bin)
  File.symlink(RbConfig.ruby, File.join(bin, "ruby"))
  File.symlink(File.join(RbConfig::CONFIG["bindir"], "gem"), File.join(bin, "gem"))
  home = File.join(dir, "gems")
  env = { "PATH" => bin, "HOME" => dir, "GEM_HOME" => home, "GEM_PATH" => home, "LANG" => "C.UTF-8" }
  %w[cargo rustc clang llvm-config].each do |tool|
    abort "native gem check: #{tool} is on the test PATH" if File.exist?(File.join(bin, tool))
  end
  step("gem install --local #{File.basename(gem_file)} (#{(File.size(gem_file) / 1048576.0).round(1)} MB)", env,
       File.join(bin, "gem"), "install", "--local", "--no-document", gem_file, chdir: dir)
  ext_dirs = Dir[File.join(home, "extensions", "**", "em_rust*")]
  abort "native gem check: the install built an extension: #{ext_dirs}" unless ext_dirs.empty?
  step("EM.run from the installed gem", env, File.join(bin, "ruby"), "-e", REACTOR, chdir: dir)
end
