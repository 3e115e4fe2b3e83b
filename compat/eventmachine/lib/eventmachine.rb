# frozen_string_literal: true
# The eventmachine compatibility gem: `require "eventmachine"` is em_rust.
# em_rust (a dependency of this gem, so its lib/ is on the load path too)
# provides every other file of EventMachine's: em/*, fastfilereaderext, ...
require "em_rust"
