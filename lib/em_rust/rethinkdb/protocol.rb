# frozen_string_literal: true
require_relative "ql2"

module RethinkDB
  # Turns QL2 into nested modules of constants, as ql2.proto names them:
  # RethinkDB::Term::TermType::ADD == 24, RethinkDB::Response::ResponseType::SUCCESS_ATOM == 1,
  # RethinkDB::VersionDummy::Version::V1_0, ...
  QL2.each do |message, enums|
    outer = const_defined?(message, false) ? const_get(message, false) : const_set(message, Module.new)
    enums.each do |enum, values|
      inner = outer.const_set(enum, Module.new)
      values.each { |name, number| inner.const_set(name, number) }
      inner.freeze
    end
  end

  # Reverse lookups used by the builder and the pretty-printer.
  module Protocol
    # term number => lower-case name ("order_by")
    TERM_NAMES = Term::TermType.constants.to_h { |c| [Term::TermType.const_get(c), c.to_s.downcase] }.freeze

    # The notes that mark a response as coming from a changefeed (INCLUDES_STATES alone does not).
    FEED_NOTES = [
      Response::ResponseNote::SEQUENCE_FEED, Response::ResponseNote::ATOM_FEED,
      Response::ResponseNote::ORDER_BY_LIMIT_FEED, Response::ResponseNote::UNIONED_FEED
    ].freeze
  end
end
