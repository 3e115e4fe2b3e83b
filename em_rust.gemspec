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
  spec.required_ruby_version = ">= 3.0"
  spec.files = Dir["lib/**/*.rb", "ext/em_rust/**/*.{rs,toml,rb,pem}", "Cargo.toml", "Cargo.lock", "README.md"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/em_rust/extconf.rb"]
end
