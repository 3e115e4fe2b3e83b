# frozen_string_literal: true
module EventMachine
  # The EventMachine API level em_rust provides.
  VERSION = "1.2.7"
  EM_RUST_VERSION = "0.1.0"
end
