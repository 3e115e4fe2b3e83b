# frozen_string_literal: true

module EventMachine
  module Protocols
    # Framing for protocols that mix delimited lines with blocks of text or
    # binary data (SMTP, HTTP, STOMP...). Include it in a Connection and
    # override the callbacks:
    #
    # - receive_line(line): one line, delimiter removed. With the default "\n"
    #   delimiter a trailing "\r" is removed too, so CRLF lines arrive clean.
    # - receive_binary_data(data): text-mode data. In sized mode, the whole block
    #   at once; in unsized mode, each piece as it arrives.
    # - receive_end_of_binary_data: after a sized block, once back in line mode.
    #
    # Every callback may switch modes (set_text_mode, set_line_mode,
    # set_delimiter): the rest of the data already received is framed by the
    # new rules. The delimiter (a String or a Regexp) may change mid-stream and
    # may arrive split across reads.
    #
    # Lines have no length limit unless set_max_line_length sets one.
    module LineText2
      # Largest sized text block the protocol is meant for (not enforced).
      MaxBinaryLength = 32 * 1024 * 1024

      # A Regexp delimiter is found across reads when its match starts within
      # this many bytes of the end of the unterminated line held from before
      # (searching all of a long held line again per read would be quadratic).
      REGEXP_LOOKBACK = 1024

      # Frames +data+, calling the callbacks for every complete unit in it.
      def receive_data(data)
        return if data.nil? || data.empty?

        @lt2_mode ||= :lines
        @lt2_delimiter ||= "\n"
        rest = data
        until rest.empty?
          case @lt2_mode
          when :lines then rest = lt2_take_lines(rest)
          when :text then rest = lt2_take_text(rest)
          else return # after an overlength line, until set_line_mode
          end
        end
      end

      # Sets the line delimiter: a Regexp, or anything else as a String.
      def set_delimiter(delim)
        @lt2_delimiter = delim.is_a?(Regexp) ? delim : delim.to_s
      end

      # Back to line mode, dropping any unterminated line; +data+ (for example
      # the unused end of a binary block) is then framed as if just received.
      def set_line_mode(data = "")
        @lt2_mode = :lines
        @lt2_partial = nil
        receive_data(data.to_s)
      end

      # Text mode: the next +size+ bytes go to receive_binary_data in one call,
      # followed by receive_end_of_binary_data and a return to line mode. With
      # no size, everything from now on goes to receive_binary_data as it
      # arrives. A size of 0 means line mode.
      def set_text_mode(size = nil)
        return set_line_mode if size == 0
        if size && Integer(size).negative?
          raise ArgumentError, "set_text_mode: the size must be nil (unsized) or a byte count >= 0 (got #{size})"
        end

        @lt2_mode = :text
        @lt2_textsize = size && Integer(size)
        @lt2_text = String.new(encoding: Encoding::BINARY)
      end

      # Same as set_text_mode (the name LineAndTextProtocol uses).
      def set_binary_mode(size = nil)
        set_text_mode(size)
      end

      # Limits lines (and the unterminated rest) to +bytes+; nil removes the
      # limit. Past it the connection is closed and receive_error("overlength
      # line") is called if defined; otherwise a RuntimeError is raised.
      def set_max_line_length(bytes)
        @lt2_max_line = bytes && Integer(bytes)
      end

      # A connection lost in the middle of a sized block hands what did arrive
      # to receive_binary_data (which must therefore accept a short block).
      def unbind
        return unless @lt2_mode == :text && @lt2_textsize && !@lt2_text.empty?

        receive_binary_data(@lt2_text)
      end

      # Called with each line. Override it.
      def receive_line(line); end

      # Called with text-mode data. Override it.
      def receive_binary_data(data); end

      # Called after a sized block has been delivered. Override it.
      def receive_end_of_binary_data; end

      private

      # Line mode over +input+ (after any unterminated line held from before).
      # Returns the input left when a callback changed the framing, else "".
      #
      # Linear in the bytes received, whatever the reads: the held part is a
      # binary String of our own that each read is appended to (never copied
      # whole), all positions are byte offsets (a character offset into UTF-8
      # data costs a scan from the start), and only the new bytes, plus the
      # delimiter's length - 1 (a Regexp delimiter: REGEXP_LOOKBACK bytes), are
      # searched again. Lines are tagged with the encoding of the read that
      # completed them (binary from a socket).
      def lt2_take_lines(input)
        enc = input.encoding
        held = @lt2_partial
        @lt2_partial = nil
        # Bytes already searched for this very delimiter.
        scanned = held && @lt2_scanned_with == @lt2_delimiter ? held.bytesize : 0
        bin = enc == Encoding::BINARY ? input : input.b
        buf = held ? held << bin : bin
        pos = 0
        loop do
          delim = @lt2_delimiter
          at, after = lt2_find(buf, delim, pos, scanned)
          scanned = 0
          unless at
            rest = pos.zero? ? buf : buf.byteslice(pos, buf.bytesize - pos)
            lt2_hold(rest.equal?(input) ? rest.dup : rest, delim) # never hold (and later append to) the caller's String
            return ""
          end

          line = buf.byteslice(pos, at - pos).force_encoding(enc)
          pos = after
          line.chomp! if delim == "\n"
          return "" if lt2_overlength?(line)

          receive_line(line)
          # A callback switched to text mode, or threw data back to be framed
          # before the rest of this input.
          if @lt2_mode != :lines || @lt2_partial
            return buf.byteslice(pos, buf.bytesize - pos).force_encoding(enc)
          end
        end
      end

      # [start, end) byte offsets of the first delimiter in the binary +buf+ at
      # or after +pos+, or nil; the first +scanned+ bytes were searched before.
      def lt2_find(buf, delim, pos, scanned)
        if delim.is_a?(Regexp)
          from = scanned - REGEXP_LOOKBACK
          lt2_match(buf, delim, from < pos ? pos : from)
        else
          unless @lt2_delim_for.equal?(delim)
            @lt2_delim_for = delim
            @lt2_delim_b = delim.b
          end
          delim_b = @lt2_delim_b
          from = scanned - delim_b.bytesize + 1
          from = pos if from < pos
          at = buf.index(delim_b, from)
          at && [at, at + delim_b.bytesize]
        end
      end

      # The first non-empty match of +re+ in +buf+ from byte +from+, as byte
      # offsets. Matched on a view (a shared substring, not a copy) in the
      # Regexp's encoding when it has one, else bytewise.
      def lt2_match(buf, re, from)
        view = buf.byteslice(from, buf.bytesize - from)
        view.force_encoding(re.encoding) if re.fixed_encoding?
        loop do
          m = re.match(view) or return nil
          start = from + m.pre_match.bytesize
          return [start, start + m[0].bytesize] unless m[0].empty?

          # An empty match: look again from the next character.
          post = m.post_match
          return nil if post.empty?

          step = post[0].bytesize
          from = start + step
          view = post.byteslice(step, post.bytesize - step)
        end
      end

      def lt2_hold(rest, delim)
        return if rest.empty?
        return if lt2_overlength?(rest)

        @lt2_partial = rest
        @lt2_scanned_with = delim
      end

      def lt2_overlength?(text)
        return false unless @lt2_max_line && text.bytesize > @lt2_max_line

        @lt2_partial = nil
        @lt2_mode = :overlength # drop whatever else arrives
        close_connection if respond_to?(:close_connection)
        raise "overlength line" unless respond_to?(:receive_error)

        receive_error("overlength line")
        true
      end

      # Text mode over +input+; returns what is left after a sized block.
      def lt2_take_text(input)
        size = @lt2_textsize
        unless size
          receive_binary_data(input)
          return ""
        end

        need = size - @lt2_text.bytesize
        if input.bytesize > need
          @lt2_text << input.byteslice(0, need).b
          rest = input.byteslice(need, input.bytesize - need)
        else
          @lt2_text << (input.encoding == Encoding::BINARY ? input : input.b)
          rest = ""
        end
        if @lt2_text.bytesize >= size
          block = @lt2_text
          set_line_mode # first, so the callbacks may ask for another block
          receive_binary_data(block)
          receive_end_of_binary_data
        end
        rest
      end
    end
  end
end
