# frozen_string_literal: true
# Loads the compiled reactor. A platform gem (rake gem:native) ships one build per
# Ruby ABI at em_rust/<major.minor>/em_rust.so, as rb-sys's gems do; a source build
# (`rake compile`, or extconf.rb on gem install) leaves em_rust/em_rust.so here or
# in the gem's extension directory, which `require` finds.
require "rbconfig"
abi = RUBY_VERSION[/\A\d+\.\d+/]
dlext = RbConfig::CONFIG["DLEXT"]
if File.exist?(File.join(__dir__, abi, "em_rust.#{dlext}"))
  require_relative "#{abi}/em_rust"
elsif File.exist?(File.join(__dir__, "em_rust.#{dlext}"))
  require_relative "em_rust"
else
  begin
    require "em_rust/em_rust"
  rescue LoadError
    shipped = Dir[File.join(__dir__, "*", "em_rust.#{dlext}")].map { |path| File.basename(File.dirname(path)) }
    raise if shipped.empty?

    raise LoadError, "this em_rust gem holds builds for Ruby #{shipped.sort.join(', ')}, not #{abi}: " \
                     "install the source gem (needs cargo and libclang) or a platform gem built on Ruby #{abi}"
  end
end
