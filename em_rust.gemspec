# frozen_string_literal: true
require_relative "lib/em_rust/version"

Gem::Specification.new do |spec|
  spec.name = "em_rust"
  spec.version = EventMachine::EM_RUST_VERSION
  spec.summary = "EventMachine with its reactor in Rust: same API, faster, no crashes"
  spec.description = <<~DESC
    em_rust is a drop-in replacement for the eventmachine gem whose event loop,
    timers and thread pool run in Rust (mio, crossbeam-channel, magnus).
  DESC
  spec.authors = ["em_rust developers"]
  spec.license = "MIT"
  # 3.1 is the Ruby the suite runs on (rakelib/ruby_versions.rake refuses to build on
  # others unless told to). The bound above is what the bindings support: magnus 0.9
  # supports Ruby 3.2 to 4.0 (and keeps 3.1 code), rb-sys 0.9.130 has stable-API
  # bindings up to 4.0; a Ruby past 4.0 is unknown to both.
  spec.required_ruby_version = [">= 3.1", "< 4.1"]
  spec.files = Dir["lib/**/*.rb", "ext/em_rust/**/*.{rs,toml,rb,pem}", "Cargo.toml", "Cargo.lock", "README.md"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/em_rust/extconf.rb"]
end
