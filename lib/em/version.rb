# frozen_string_literal: true
require_relative "../em_rust/version"
