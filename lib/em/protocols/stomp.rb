# frozen_string_literal: true

require_relative "linetext2"

module EventMachine
  module Protocols
    # A STOMP 1.0 client (https://stomp.github.io/stomp-specification-1.0.html).
    #
    #   module Listener
    #     include EM::P::Stomp
    #     def connection_completed = connect(login: "guest", passcode: "guest")
    #     def receive_msg(msg)
    #       subscribe("/queue/a") if msg.command == "CONNECTED"
    #       p msg.body if msg.command == "MESSAGE"
    #     end
    #   end
    #   EM.connect("127.0.0.1", 61613, Listener)
    #
    # Frames the server sends arrive as Stomp::Message objects at
    # receive_msg. A frame with a content-length header may carry any bytes;
    # one without (or with a negative one) ends at its NUL.
    module Stomp
      include LineText2

      # One frame from the server.
      class Message
        # "CONNECTED", "MESSAGE", "RECEIPT", "ERROR"...
        attr_accessor :command
        # { "name" => "value" }
        attr_accessor :header
        alias headers header
        # The body, without the terminating NUL.
        attr_accessor :body

        def initialize
          @header = {}
          @state = :precommand
          @content_length = nil
        end

        # @private Takes one line of the frame and yields what the reader has
        # to do next: [:sized_text, bytes], [:unsized_text] or [:dispatch].
        def consume_line(line)
          case @state
          when :precommand
            return if line.strip.empty? # the newlines some servers send between frames

            @command = line
            @state = :headers
          when :headers
            return header_line(line) unless line.empty?

            if @content_length
              yield [:sized_text, @content_length + 1] # the body and its NUL
            else
              @state = :body
              yield [:unsized_text]
            end
          when :body
            @body = line
            yield [:dispatch]
          end
        end

        private

        def header_line(line)
          m = /\A([^:]+):(.+)\z/.match(line) or return
          name = m[1].strip
          value = m[2].strip
          @header[name] = value
          @content_length = body_length(value) if name == "content-length"
        end

        # A content-length read as EM reads it (to_i: "12abc" is 12, "abc"
        # 0), except that a negative one is ignored: that body, like one
        # without content-length, ends at its NUL.
        def body_length(value)
          length = value.to_i
          length.negative? ? nil : length
        end
      end

      # @private Writes a frame; content-length always, and a text/plain
      # content-type unless the headers have one.
      def send_frame(verb, headers = {}, body = "")
        body = body.to_s
        frame = +"#{verb}\n"
        headers.each { |name, value| frame << "#{name}:#{value}\n" }
        frame << "content-length: #{body.bytesize}\n"
        frame << "content-type: text/plain; charset=UTF-8\n" unless headers.key?("content-type")
        frame << "\n"
        send_data(frame.b << body.b << "\0")
      end

      # @private
      def receive_line(line)
        stomp_reset_reader unless @stomp_message
        @stomp_message.consume_line(line) do |action, size|
          case action
          when :sized_text then set_text_mode(size)
          when :unsized_text then set_delimiter("\0")
          when :dispatch then stomp_deliver
          end
        end
      end

      # @private A sized body (with its NUL) arrived.
      def receive_binary_data(data)
        @stomp_message.body = data.byteslice(0, data.bytesize - 1)
        stomp_deliver
      end

      # Called with each Stomp::Message. Override it.
      def receive_msg(msg); end

      # CONNECT, e.g. connect(login: "guest", passcode: "guest").
      def connect(parms = {})
        send_frame("CONNECT", parms)
      end

      # SEND +body+ to +destination+, with extra headers in +parms+.
      def send(destination, body, parms = {})
        send_frame("SEND", parms.merge(destination: destination), body.to_s)
      end

      # SUBSCRIBE to +dest+; with +ack+ true, messages must be acknowledged.
      def subscribe(dest, ack = false)
        send_frame("SUBSCRIBE", { destination: dest, ack: ack ? "client" : "auto" })
      end

      # ACK a message by its message-id.
      def ack(msgid)
        send_frame("ACK", { "message-id" => msgid })
      end

      private

      def stomp_deliver
        msg = @stomp_message
        stomp_reset_reader
        receive_msg(msg)
      end

      def stomp_reset_reader
        set_delimiter("\n")
        set_line_mode
        @stomp_message = Message.new
      end
    end
  end
end
