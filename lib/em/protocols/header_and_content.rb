# frozen_string_literal: true

require_relative "linetext2"

module EventMachine
  module Protocols
    # Frames messages made of header lines, a blank line, and a body whose size
    # a Content-length header gives (none means no body) -- the shape of HTTP
    # requests. Subclass it and define any of:
    #
    # - receive_first_header_line(line)
    # - receive_headers(lines): all header lines, once the blank line arrived
    # - receive_request(lines, content): the whole message
    #
    # Blank lines before a message are skipped. headers_2_hash turns the header
    # lines into { content_length: "12", ... }.
    class HeaderAndContentProtocol < Connection
      include LineText2

      ContentLengthPattern = /Content-length:\s*(\d+)/i

      def initialize(*args)
        super
        hc_next_message
      end

      def receive_line(line)
        if @hc_state == :before
          return if line.empty?

          @hc_state = :headers
        end
        line.empty? ? hc_headers_done : hc_header(line)
      end

      def receive_binary_data(text)
        @hc_content = text
        hc_dispatch
      end

      # See HeaderAndContentProtocol.headers_2_hash.
      def headers_2_hash(lines)
        self.class.headers_2_hash(lines)
      end

      # { name: value } for "Name: value" lines; names are downcased, with "-"
      # turned into "_", as Symbols. Lines without a colon are left out.
      def self.headers_2_hash(lines)
        lines.each_with_object({}) do |line, hash|
          m = /\A([^\s:]+)\s*:\s*/.match(line) or next
          hash[m[1].downcase.tr("-", "_").to_sym] = m.post_match
        end
      end

      private

      def hc_header(line)
        @hc_headers << line
        if (m = ContentLengthPattern.match(line))
          raise "extraneous content-length header" if @hc_length

          @hc_length = m[1].to_i
        end
        receive_first_header_line(line) if @hc_headers.size == 1 && respond_to?(:receive_first_header_line)
      end

      def hc_headers_done
        receive_headers(@hc_headers) if respond_to?(:receive_headers)
        if @hc_length.to_i.positive?
          set_binary_mode(@hc_length)
        else
          hc_dispatch
        end
      end

      def hc_dispatch
        receive_request(@hc_headers, @hc_content) if respond_to?(:receive_request)
        hc_next_message
      end

      def hc_next_message
        @hc_state = :before
        @hc_headers = []
        @hc_length = nil
        @hc_content = String.new
      end
    end
  end
end
