# frozen_string_literal: true
# `require 'em/pure_ruby'` asks EventMachine for its reactor without the C++
# extension. em_rust has no C++ to avoid: this loads em_rust itself (its
# reactor is in Rust; EM.library_type stays :extension).
require_relative "../em_rust"
