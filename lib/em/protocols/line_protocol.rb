# frozen_string_literal: true

module EventMachine
  module Protocols
    # The simplest line framing: include it and define receive_line(line),
    # which gets each "\n"-terminated line without its "\n" or "\r\n".
    module LineProtocol
      def receive_data(data)
        from = @lp_held ? @lp_held.length : 0 # the held part has no "\n"
        buf = @lp_held ? @lp_held << data : data.dup
        start = 0
        while (at = buf.index("\n", from))
          line = buf[start...at]
          line.chomp!
          start = from = at + 1
          receive_line(line)
        end
        @lp_held = start.zero? ? buf : buf[start..-1]
        @lp_held = nil if @lp_held.empty?
      end

      # Called with each line. Override it.
      def receive_line(line); end
    end
  end
end
