# frozen_string_literal: true
# `require 'rubyeventmachine'` loads EventMachine's C++ reactor; here it loads
# em_rust's (the native library and its Ruby layer), so code that requires the
# extension by name gets the same EventMachine as `require 'eventmachine'`.
require_relative "em_rust"
