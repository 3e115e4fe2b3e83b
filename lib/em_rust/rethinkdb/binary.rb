# frozen_string_literal: true
module RethinkDB
  # Binary data: a String in BINARY encoding that the builder sends as a BINARY
  # pseudo-type (r.expr(RethinkDB::Binary.new("...")) and the server returns as one.
  class Binary < String
    PREVIEW_BYTES = 6

    def initialize(*)
      super
      force_encoding(Encoding::BINARY)
    end

    # <binary, 3 bytes, '61 62 63'>, at most six bytes shown.
    def inspect
      count = bytesize
      preview = ""
      if count.positive?
        hex = byteslice(0, PREVIEW_BYTES).unpack("C*").map { |b| format("%02x", b) }.join(" ")
        preview = ", '#{hex}#{'...' if count > PREVIEW_BYTES}'"
      end
      "<binary, #{count} byte#{'s' unless count == 1}#{preview}>"
    end
  end
end
