# frozen_string_literal: true
# `require 'eventmachine'` lands here when em_rust's lib is first on the load path
# (after `require 'em_rust'`, or with em_rust in the Gemfile).
require_relative "em_rust"
