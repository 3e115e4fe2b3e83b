# frozen_string_literal: true
# Loads the compiled reactor: a Ruby-version-specific build if one is shipped,
# else the one built by extconf.rb / `rake compile`.
begin
  require "em_rust/#{RUBY_VERSION[/\d+\.\d+/]}/em_rust"
rescue LoadError
  begin
    require_relative "em_rust.so"
  rescue LoadError
    require "em_rust/em_rust"
  end
end
