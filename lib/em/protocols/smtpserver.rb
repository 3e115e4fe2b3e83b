# frozen_string_literal: true

require_relative "linetext2"

module EventMachine
  module Protocols
    # The server side of SMTP, with the decisions left to overridable methods.
    # Subclass it, override what you need, and start_server with the class:
    #
    #   class Inbox < EM::P::SmtpServer
    #     def receive_sender(from)     = (@from = from; true)
    #     def receive_recipient(to)    = true
    #     def receive_data_chunk(lines) = (@text ||= +"") << lines.join("\n")
    #     def receive_message          = (store(@from, @text); true)
    #   end
    #   EM.start_server("127.0.0.1", 2525, Inbox)
    #
    # Hooks (defaults in brackets): get_server_greeting, get_server_domain,
    # receive_ehlo_domain(domain) [true], receive_plain_auth(user, password)
    # [true], receive_sender(address) [true], receive_recipient(address) [true],
    # receive_data_command [true], receive_data_chunk(lines), receive_message
    # [true], receive_reset, receive_transaction, connection_ended.
    # receive_plain_auth, receive_recipient, receive_data_command and
    # receive_message may return a Deferrable instead of true/false.
    #
    # Settings (SmtpServer.parms= or #parms=, shared by all connections):
    # :chunksize (data lines per receive_data_chunk, 4000), :verbose,
    # :starttls (true or :required), :starttls_options (for start_tls), :auth
    # (true or :required; AUTH PLAIN).
    class SmtpServer < EventMachine::Connection
      include Protocols::LineText2

      HeloRegex = /\AHELO\s*/i
      EhloRegex = /\AEHLO\s*/i
      QuitRegex = /\AQUIT/i
      MailFromRegex = /\AMAIL FROM:\s*/i
      RcptToRegex = /\ARCPT TO:\s*/i
      DataRegex = /\ADATA/i
      NoopRegex = /\ANOOP/i
      RsetRegex = /\ARSET/i
      VrfyRegex = /\AVRFY\s+/i
      ExpnRegex = /\AEXPN\s+/i
      HelpRegex = /\AHELP/i
      StarttlsRegex = /\ASTARTTLS/i
      AuthRegex = /\AAUTH\s+/i

      # Command patterns and the methods that handle them, tried in order; the
      # handlers of the first five get the rest of the line.
      COMMANDS = [
        [EhloRegex, :process_ehlo], [HeloRegex, :process_helo],
        [MailFromRegex, :process_mail_from], [RcptToRegex, :process_rcpt_to],
        [AuthRegex, :process_auth],
        [DataRegex, :process_data], [RsetRegex, :process_rset],
        [VrfyRegex, :process_vrfy], [ExpnRegex, :process_expn],
        [HelpRegex, :process_help], [NoopRegex, :process_noop],
        [QuitRegex, :process_quit], [StarttlsRegex, :process_starttls]
      ].freeze
      WITH_ARGUMENT = %i[process_ehlo process_helo process_mail_from process_rcpt_to process_auth].freeze
      private_constant :COMMANDS, :WITH_ARGUMENT

      @@parms = { chunksize: 4000, verbose: false }

      # Merges +parms+ into the settings of every SmtpServer connection.
      def self.parms=(parms = {})
        @@parms.merge!(parms)
      end

      def initialize(*args)
        super
        @parms = @@parms
        @state = []
      end

      # Same as SmtpServer.parms= (the settings are shared).
      def parms=(parms = {})
        @parms.merge!(parms)
      end

      # The greeting goes out on the next tick, so that the block given to
      # start_server can configure the connection first.
      def post_init
        EventMachine.next_tick { send_server_greeting }
      end

      def send_server_greeting
        send_data("220 #{get_server_greeting}\r\n")
      end

      def receive_line(line)
        $stdout.puts(">>> #{line}") if @@parms[:verbose]
        return process_data_line(line) if @state.include?(:data)
        return process_auth_line(line) if @state.include?(:auth_incomplete)

        COMMANDS.each do |pattern, handler|
          m = pattern.match(line) or next
          return WITH_ARGUMENT.include?(handler) ? __send__(handler, m.post_match) : __send__(handler)
        end
        process_unknown
      end

      def unbind
        connection_ended
      end

      def process_help
        reply "250 Ok, but unimplemented"
      end

      def process_vrfy
        reply "502 Command not implemented"
      end

      def process_expn
        reply "502 Command not implemented"
      end

      def process_noop
        reply "250 Ok"
      end

      def process_unknown
        reply "500 Unknown command"
      end

      def process_quit
        reply "221 Ok"
        close_connection_after_writing
      end

      def process_ehlo(domain)
        return reply("550 Requested action not taken") unless receive_ehlo_domain(domain)

        reply "250-#{get_server_domain}"
        reply "250-STARTTLS" if @@parms[:starttls]
        reply "250-AUTH PLAIN" if @@parms[:auth]
        reply "250-NO-SOLICITING"
        reply "250 SIZE 20000000"
        reset_protocol_state
        @state << :ehlo
      end

      def process_helo(domain)
        return reply("550 Requested action not taken") unless receive_ehlo_domain(domain)

        reply "250 #{get_server_domain}"
        reset_protocol_state
        @state << :ehlo
      end

      def process_rset
        reset_protocol_state
        receive_reset
        reply "250 Ok"
      end

      def process_starttls
        return process_unknown unless @@parms[:starttls]
        return reply("503 TLS Already negotiated") if @state.include?(:starttls)
        return reply("503 EHLO required before STARTTLS") unless @state.include?(:ehlo)

        reply "220 Start TLS negotiation"
        start_tls(@@parms[:starttls_options] || {})
        @state << :starttls
      end

      # AUTH PLAIN, with the credentials on the same line or (after a 334) on
      # the next one.
      def process_auth(rest)
        return reply("503 auth already issued") if @state.include?(:auth)

        m = /\APLAIN\s?/i.match(rest)
        return reply("504 auth mechanism not available") unless m

        if m.post_match.empty?
          @state << :auth_incomplete
          reply "334 "
        else
          process_auth_line(m.post_match)
        end
      end

      def process_auth_line(line)
        @state.delete(:auth_incomplete)
        _authzid, user, password = line.unpack1("m").split("\0")
        decide(receive_plain_auth(user, password),
               -> { reply "235 authentication ok"; @state << :auth },
               -> { reply "535 invalid authentication" })
      end

      def process_mail_from(sender)
        if @@parms[:starttls] == :required && !@state.include?(:starttls)
          reply "550 This server requires STARTTLS before MAIL FROM"
        elsif @@parms[:auth] == :required && !@state.include?(:auth)
          reply "550 This server requires authentication before MAIL FROM"
        elsif @state.include?(:mail_from)
          reply "503 MAIL already given"
        elsif receive_sender(sender)
          reply "250 Ok"
          @state << :mail_from
        else
          reply "550 sender is unacceptable"
        end
      end

      def process_rcpt_to(recipient)
        return reply("503 MAIL is required before RCPT") unless @state.include?(:mail_from)

        decide(receive_recipient(recipient),
               -> { reply "250 Ok"; @state << :rcpt unless @state.include?(:rcpt) },
               -> { reply "550 recipient is unacceptable" })
      end

      def process_data
        return reply("503 Operation sequence error") unless @state.include?(:rcpt)

        decide(receive_data_command,
               lambda do
                 reply "354 Send it"
                 @state << :data
                 @databuffer = []
               end,
               -> { reply "550 Operation failed" })
      end

      # A line of message text; "." alone ends the message. Lines are handed
      # over in chunks of :chunksize.
      def process_data_line(line)
        unless line == "."
          line = line[1..-1] if line.start_with?(".")
          @databuffer << line
          flush_data_chunk if @databuffer.size > @@parms[:chunksize]
          return
        end

        flush_data_chunk unless @databuffer.empty?
        decide(receive_message,
               -> { reply "250 Message accepted"; reset_protocol_state },
               -> { reply "550 Message rejected"; reset_protocol_state })
        @state -= %i[data mail_from rcpt]
      end

      # Forgets the transaction (sender, recipients, auth) but not EHLO or TLS,
      # and tells receive_transaction.
      def reset_protocol_state
        kept = @state & %i[starttls ehlo]
        @state = kept
        receive_transaction
      end

      def init_protocol_state
        @state ||= []
      end

      # --- Overridable ---------------------------------------------------

      def get_server_greeting
        "EventMachine SMTP Server"
      end

      def get_server_domain
        "Ok EventMachine SMTP Server"
      end

      def receive_ehlo_domain(_domain)
        true
      end

      def receive_plain_auth(_user, _password)
        true
      end

      def receive_sender(_sender)
        true
      end

      def receive_recipient(_rcpt)
        true
      end

      def receive_reset; end

      def connection_ended; end

      def receive_data_command
        true
      end

      # Gets the message text, an Array of lines (dot-unstuffed, without line
      # ends), several times for a long message. The default only counts.
      def receive_data_chunk(lines)
        @smtps_msg_size = (@smtps_msg_size || 0) + lines.sum(&:bytesize)
        $stderr.write("<#{@smtps_msg_size}>")
      end

      def receive_message
        $stdout.puts("Received complete message") if @@parms[:verbose]
        true
      end

      def receive_transaction; end

      private

      def reply(line)
        send_data("#{line}\r\n")
      end

      # Runs +yes+ or +no+ on a true/false answer, or when a Deferrable answer
      # settles.
      def decide(answer, yes, no)
        if answer.respond_to?(:callback) && answer.respond_to?(:errback)
          answer.callback { yes.call }
          answer.errback { no.call }
        else
          (answer ? yes : no).call
        end
      end

      def flush_data_chunk
        chunk = @databuffer
        @databuffer = []
        receive_data_chunk(chunk)
      end
    end
  end
end
