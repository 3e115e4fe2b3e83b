# frozen_string_literal: true
# The Ruby versions the suite has passed on. Building on another one stops here,
# loudly, before cargo runs: magnus and rb-sys compile against any Ruby they know,
# and a reactor nobody has tested on that Ruby is not something to hand to CI.
# EM_RUST_UNTESTED_RUBY=1 builds anyway (to try a new Ruby; say what you find).
TESTED_RUBIES = %w[3.1].freeze

task :ruby_version do
  abi = RUBY_VERSION[/\A\d+\.\d+/]
  next if TESTED_RUBIES.include?(abi)

  message = "em_rust is tested on Ruby #{TESTED_RUBIES.join(', ')}, not #{RUBY_VERSION} (#{RbConfig.ruby})"
  if ENV["EM_RUST_UNTESTED_RUBY"] == "1"
    warn "WARNING: #{message}; building anyway (EM_RUST_UNTESTED_RUBY=1)"
  else
    abort "#{message}.\nSet EM_RUST_UNTESTED_RUBY=1 to build and test on it anyway."
  end
end

task compile: :ruby_version
