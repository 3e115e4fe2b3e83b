# frozen_string_literal: true

require "ostruct"
require_relative "linetext2"

module EventMachine
  module Protocols
    # Sends one message to an SMTP server.
    #
    #   mail = EM::P::SmtpClient.send(
    #     domain: "example.com", host: "127.0.0.1", port: 2525,
    #     from: "me@example.com", to: ["you@example.com"],
    #     header: { "Subject" => "Hi" }, body: "Hello")
    #   mail.callback { |r| p r.code }               # 250
    #   mail.errback  { |r| p r.code, r.message }
    #
    # Arguments: :host, :port (25), :domain (for EHLO), :from, :to (a String
    # or an Array; the message is sent if at least one recipient is accepted),
    # :starttls, :auth ({ type: :plain, username:, password: (String or a
    # callable) }), :verbose (prints the conversation), and the message as one
    # of :message (an RFC 2822 text, dot-stuffed and terminated here),
    # :content (raw DATA, already dot-stuffed and ending in "\r\n.\r\n"), or
    # :header (Hash or String) with :body (String or Array of Strings).
    #
    # Both outcomes carry an OpenStruct: start_time, elapsed_time, code (the
    # last reply code; 900 for a local error), message (the last reply's
    # lines) and responder (the step that was waiting for that reply).
    class SmtpClient < Connection
      include EventMachine::Deferrable
      include EventMachine::Protocols::LineText2

      # Connects and delivers. @return [SmtpClient] the connection, a Deferrable
      def self.send(args = {})
        args[:port] ||= 25
        args[:body] ||= ""
        EventMachine.connect(args[:host], args[:port], self) do |c|
          c.args = args
          c.set_comm_inactivity_timeout(60)
        end
      end

      attr_writer :args

      def initialize(*)
        super
        @succeeded = false
        @finished = false
        @responder = nil
        @code = nil
        @msg = []
      end

      def post_init
        @return_values = OpenStruct.new(start_time: Time.now)
      end

      def connection_completed
        @responder = :receive_signon
        @msg = []
      end

      def unbind
        finish(:failed) unless @finished
      end

      # One reply line; the last line of a reply ("250 ok", not "250-...")
      # moves the conversation on.
      def receive_line(line)
        $stdout.puts(line) if @args[:verbose]
        @code = line[0, 3].to_i
        @msg << (line[4..-1] || "")
        return if line[3] == "-"

        step = @responder
        @range = @code / 100
        $stdout.puts(step) if @args[:verbose]
        __send__(step) if step
        @msg = []
      end

      private

      def command(text, expect)
        send_data("#{text}\r\n")
        @responder = expect
      end

      def ok?(range = 2)
        @range == range || (abort_with_reply && false)
      end

      def receive_signon
        command("EHLO #{@args[:domain]}", :receive_ehlo_response) if ok?
      end

      def receive_ehlo_response
        return unless ok?

        @server_caps = @msg
        return authenticate unless @args[:starttls]

        command("STARTTLS", :receive_starttls_response)
      end

      def receive_starttls_response
        return unless ok?

        start_tls
        command("EHLO #{@args[:domain]}", :receive_ehlo_over_tls_response)
      end

      def receive_ehlo_over_tls_response
        authenticate if ok?
      end

      def authenticate
        auth = @args[:auth]
        return mail_from unless auth
        return abort_locally("unsupported auth type") unless auth[:type] == :plain

        password = auth[:password]
        password = password.call if password.respond_to?(:call)
        token = ["\0#{auth[:username]}\0#{password}"].pack("m0")
        command("AUTH PLAIN #{token}", :receive_auth_response)
      end

      def receive_auth_response
        mail_from if ok?
      end

      def mail_from
        command("MAIL FROM: <#{@args[:from]}>", :receive_mail_from_response)
      end

      def receive_mail_from_response
        return unless ok?

        @rcpt_responses = []
        next_recipient
      end

      def recipients
        to = @args[:to]
        to.is_a?(Array) ? to : [to.to_s]
      end

      def next_recipient
        rcpt = recipients[@rcpt_responses.size]
        return command("RCPT TO: <#{rcpt}>", :receive_rcpt_to_response) if rcpt

        if @rcpt_responses.any? { |r| r.last == 2 }
          command("DATA", :receive_data_response)
        else
          abort_with_reply
        end
      end

      def receive_rcpt_to_response
        @rcpt_responses << [@code, @msg, @range]
        next_recipient
      end

      def receive_data_response
        return unless ok?(3)

        send_message
        @responder = :receive_message_response
      end

      def send_message
        if @args[:message]
          send_data(escape_leading_dots(@args[:message].to_s))
          send_data("\r\n.\r\n")
        elsif @args[:content]
          send_data(@args[:content].to_s)
        else
          header = @args[:header]
          if header.is_a?(Hash)
            header.each { |name, value| send_data(escape_leading_dots("#{name}: #{value}\r\n")) }
          else
            send_data(escape_leading_dots(header.to_s))
          end
          send_data("\r\n")
          Array(@args[:body]).each { |part| send_data(escape_leading_dots(part.to_s)) }
          send_data("\r\n.\r\n")
        end
      end

      def receive_message_response
        return unless ok?

        send_data("QUIT\r\n")
        close_connection_after_writing
        finish(:succeeded)
      end

      # A line that starts with "." gets another, so it is not read as the end.
      def escape_leading_dots(text)
        text.gsub(/^\./, "..")
      end

      # The server refused a step: fail with its reply, then say goodbye.
      def abort_with_reply
        finish(:failed)
        send_data("QUIT\r\n")
        close_connection_after_writing
      end

      def abort_locally(why)
        @code = 900
        @msg = why
        abort_with_reply
      end

      def finish(status)
        @finished = true
        @succeeded = status == :succeeded
        values = @return_values
        values.elapsed_time = Time.now - values.start_time
        values.responder = @responder
        values.code = @code
        values.message = @msg.is_a?(Array) ? @msg.dup : @msg
        @responder = nil # later replies (to QUIT) are not part of the exchange
        set_deferred_status(status, values)
      end
    end
  end
end
