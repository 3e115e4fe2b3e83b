# frozen_string_literal: true
# The real eventmachine (Debian's ruby-eventmachine), asked in a child process:
# what it defines and which files it ships, for the parity specs that compare
# em_rust with it whichever implementation this process has loaded.
require "json"
require "rbconfig"

module RealEM
  module_function

  # Environment for the child: nothing inherited may put em_rust (or a Bundler
  # setup that does) ahead of the real gem.
  CLEAN_ENV = { "RUBYOPT" => nil, "RUBYLIB" => nil, "BUNDLE_GEMFILE" => nil, "BUNDLE_BIN_PATH" => nil }.freeze

  # Is the real gem installed (its eventmachine.rb in vendor_ruby)?
  def installed?
    File.file?(File.join(RbConfig::CONFIG["vendordir"], "eventmachine.rb"))
  end

  # Runs `code` in a ruby that has loaded the real eventmachine from
  # vendor_ruby; `code` prints JSON after "REPORT:". Returns the parsed report.
  def report(code, timeout: 10)
    script = <<~RUBY
      raise "em_rust loaded instead of the real eventmachine" if defined?(EventMachine::EM_RUST_VERSION)
      require "json"
      #{code}
    RUBY
    argv = [RbConfig.ruby, "-I", RbConfig::CONFIG["vendordir"], "-r", "eventmachine", "-e", script]
    r = CoreHelpers.run_command(argv, timeout: timeout, env: CLEAN_ENV)
    raise "real eventmachine child failed:\n#{r.output}" unless r.success?
    JSON.parse(r.output[/^REPORT:(.*)$/, 1] || raise("no report in:\n#{r.output}"))
  end

  # The files of the installed package (dpkg -L), or nil without dpkg.
  def package_files(package = "ruby-eventmachine")
    r = CoreHelpers.run_command(["dpkg", "-L", package], timeout: 10)
    r.success? ? r.output.lines.map(&:chomp) : nil
  rescue SystemCallError
    nil
  end

  # Every feature the package lets a program `require`: its .rb files under
  # vendor_ruby and its extensions under vendorarchdir, as require names.
  def requirable_features(files = package_files)
    return nil unless files
    dirs = [RbConfig::CONFIG["vendordir"], RbConfig::CONFIG["vendorarchdir"]].map { |d| d.chomp("/") + "/" }
    files.filter_map do |path|
      next unless path.end_with?(".rb", ".so") && File.file?(path)
      dir = dirs.find { |d| path.start_with?(d) }
      path.delete_prefix(dir).sub(/\.(rb|so)\z/, "") if dir
    end.uniq.sort
  end
end
