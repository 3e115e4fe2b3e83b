# frozen_string_literal: true

module EventMachine
  module Protocols
    # A Connection that frames "\n"-terminated lines (a trailing "\r" is
    # removed) and, on request, a block of binary data. Subclass it and define
    # receive_line(line) and receive_binary_data(data); a callback that is not
    # defined is skipped.
    #
    # set_binary_mode(size) from receive_line sends the next +size+ bytes to
    # receive_binary_data in one call, then returns to lines; with no size every
    # later byte goes to receive_binary_data as it arrives. An exception from
    # the line callbacks closes the connection after calling
    # receive_error("overlength line") if it is defined.
    class LineAndTextProtocol < Connection
      # Largest sized binary block set_binary_mode accepts.
      MaxBinaryLength = 32 * 1024 * 1024

      def initialize(*args)
        super
        lat_line_mode
      end

      def receive_data(data)
        return if data.nil? || data.empty?

        @lat_mode == :lines ? lat_lines(data) : lat_binary(data)
      end

      # A sized block cut short by the disconnect is delivered as it is.
      def unbind
        return unless @lat_mode == :binary && @lat_limit.positive?

        receive_binary_data(@lat_block) if respond_to?(:receive_binary_data)
      end

      # Switches to binary mode (see the class notes); only from line mode.
      # A size of 0 delivers an empty block at once and stays in line mode.
      def set_binary_mode(size = nil)
        raise "invalid operation" unless @lat_mode == :lines

        if size == 0
          receive_binary_data(String.new) if respond_to?(:receive_binary_data)
          return
        end

        @lat_limit = size.to_i
        if @lat_limit.positive?
          raise "Overlength" if @lat_limit > MaxBinaryLength

          @lat_block = String.new(encoding: Encoding::BINARY)
        end
        @lat_mode = :binary
        rest = lat_unframed
        receive_data(rest) unless rest.empty?
      end

      private

      def lat_line_mode
        @lat_mode = :lines
        @lat_held = String.new(encoding: Encoding::BINARY)
        @lat_scan = nil
        @lat_limit = 0
      end

      def lat_lines(data)
        held = @lat_held
        from = held.length # the held part has no "\n"
        # Appended in place (the held part is our own String): linear in the line.
        buf = held.empty? ? data : held << data
        @lat_held = String.new(encoding: Encoding::BINARY)
        @lat_scan = buf
        pos = 0
        while (at = buf.index("\n", from))
          line = buf[pos...at]
          line.chomp!
          pos = from = @lat_pos = at + 1
          receive_line(line) if respond_to?(:receive_line)
          return unless @lat_scan.equal?(buf) # set_binary_mode took the rest
        end
        @lat_scan = nil
        @lat_held = if pos.nonzero? then buf[pos..-1]
                    elsif buf.equal?(data) then data.dup # never append to the caller's String
                    else buf
                    end
      rescue StandardError
        @lat_scan = nil
        receive_error("overlength line") if respond_to?(:receive_error)
        close_connection
      end

      # The data received but not yet framed, which then belongs to the caller.
      def lat_unframed
        rest = @lat_held
        @lat_held = String.new(encoding: Encoding::BINARY)
        if @lat_scan
          rest = @lat_scan[@lat_pos..-1]
          @lat_scan = nil
        end
        rest
      end

      def lat_binary(data)
        unless @lat_limit.positive?
          receive_binary_data(data) if respond_to?(:receive_binary_data)
          return
        end

        need = @lat_limit - @lat_block.bytesize
        rest = nil
        if data.bytesize > need
          rest = data.byteslice(need, data.bytesize - need)
          data = data.byteslice(0, need)
        end
        @lat_block << data
        if @lat_block.bytesize == @lat_limit
          block = @lat_block
          lat_line_mode
          receive_binary_data(block) if respond_to?(:receive_binary_data)
        end
        receive_data(rest) if rest
      end
    end
  end
end
