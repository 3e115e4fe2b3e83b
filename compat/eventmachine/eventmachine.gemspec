# frozen_string_literal: true
# A gem named "eventmachine" that is em_rust: gems that depend on eventmachine
# (thin, em-http-request, ...) resolve to this one, with no C++ to build, and
# every `require "eventmachine"` loads em_rust. See "Using em_rust with Bundler"
# in em_rust's README.
Gem::Specification.new do |spec|
  spec.name = "eventmachine"
  # Digits only (a letter would make it a prerelease): EventMachine's API level
  # em_rust implements, 1.2.7, plus this package's own release number. It
  # satisfies the usual requirements (thin: "~> 1.0, >= 1.0.4").
  spec.version = "1.2.7.1"
  spec.summary = "em_rust under the eventmachine name: EventMachine with its reactor in Rust"
  spec.description = <<~DESC
    A compatibility package: it provides the eventmachine gem's name and loads
    em_rust, a drop-in EventMachine whose reactor is written in Rust, so that
    applications and gems depending on eventmachine run on em_rust without
    building EventMachine's C++ extension.
  DESC
  spec.authors = ["em_rust developers"]
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.0"
  spec.files = ["lib/eventmachine.rb", "eventmachine.gemspec"]
  spec.require_paths = ["lib"]
  spec.add_runtime_dependency "em_rust", ">= 0.1.0"
end
