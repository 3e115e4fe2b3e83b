# frozen_string_literal: true
# The official rethinkdb gem's em_run design (2.4, docs/RETHINKDB.md §1), for
# bench/rethinkdb_stream.rb on the real eventmachine, where em_rust's client cannot
# load and the official gem cannot be installed here (RubyGems is unreachable):
# a blocking TCPSocket read by one listener Thread per connection, each response
# parsed with JSON in that thread, handed to the reactor with EM.next_tick, its
# rows converted (pseudo-types walked) and given one by one to a Handler's on_val,
# and a partial response answered with CONTINUE. Written here, not copied.
require "json"
require_relative "ruby_reql_client"

module RethinkDB
  class ReqlError < StandardError; end
  class ReqlDriverError < ReqlError; end
  class ReqlAuthError < ReqlDriverError; end
end

module OfficialDesign
  SUCCESS_SEQUENCE = 2
  SUCCESS_PARTIAL = 3
  CONTINUE = "[2]"
  STOP = "[3]"

  class Handler
    def on_open; end
    def on_val(_val); end
    def on_close; end
  end

  class Connection
    def initialize(host, port)
      @transport = RubyReqlClient::Transport.connect(host, port, "admin", "", 20)
      @handles = {}
      @token = 0
      @listener = Thread.new { listen }
    end

    # em_run of a query given as its JSON term; the handler gets every row.
    def em_run(term_json, handler)
      token = (@token += 1)
      @handles[token] = handler
      handler.on_open
      @transport.send_query(token, "[1,#{term_json},{}]")
    end

    def close
      @listener.kill
      @transport.close
    end

    # What the driver does at EM's shutdown for a handle still open: STOP.
    def stop_all
      @handles.each_key { |token| @transport.send_query(token, STOP) }
      @handles.clear
    end

    private

    def listen
      Thread.current.report_on_exception = false # ends when the connection closes
      loop do
        token, response = @transport.read_response(nil)
        EM.next_tick { deliver(token, response) }
      end
    end

    def deliver(token, response)
      handler = @handles[token] or return
      response["r"].each { |row| handler.on_val(native(row)) }
      if response["t"] == SUCCESS_PARTIAL
        @transport.send_query(token, CONTINUE)
      else
        @handles.delete(token)
        handler.on_close
      end
    end

    # Pseudo-types to Ruby values, as the official driver walks every response.
    def native(value)
      case value
      when Hash then value.key?("$reql_type$") ? value : value.transform_values { |v| native(v) }
      when Array then value.map { |v| native(v) }
      else value
      end
    end
  end
end
