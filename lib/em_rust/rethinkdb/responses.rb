# frozen_string_literal: true
require "json"

module RethinkDB
  # A decoded response ({"t" => type, "r" => [...], "e", "b", "n", "p"}) to the
  # value a query returns, or to the exception it raises, with the query
  # pretty-printed and the backtrace's subterm underlined.
  #
  # Every response frame passes `check!` once, as the connection receives it:
  # a response of the wrong shape is the server's fault, a ReqlDriverError that
  # closes the connection, never a TypeError deep in a handler.
  module Responses
    RT = Response::ResponseType
    ET = Response::ErrorType

    RUNTIME_ERRORS = {
      ET::INTERNAL => :ReqlInternalError,
      ET::RESOURCE_LIMIT => :ReqlResourceLimitError,
      ET::QUERY_LOGIC => :ReqlQueryLogicError,
      ET::NON_EXISTENCE => :ReqlNonExistenceError,
      ET::OP_FAILED => :ReqlOpFailedError,
      ET::OP_INDETERMINATE => :ReqlOpIndeterminateError,
      ET::USER => :ReqlUserError,
      ET::PERMISSION_ERROR => :ReqlPermissionError
    }.freeze

    TYPE_NAMES = RT.constants.to_h { |name| [RT.const_get(name), name.to_s] }.freeze

    # How much of a bad response a message quotes.
    EXCERPT_CHARS = 120

    class << self
      def success?(response)
        t = response["t"]
        t == RT::SUCCESS_ATOM || t == RT::SUCCESS_SEQUENCE || t == RT::SUCCESS_PARTIAL
      end

      # Checks the shape of the response to `token` (docs/RETHINKDB.md §3.3) and, when
      # a query waits for it with `opts`, decodes the pseudo-types of its rows in
      # place. Raises ReqlDriverError "Bad response from server for token N: ..."
      # for a response no server should send. A missing or unknown type passes:
      # it is the official driver's ReqlRuntimeError "Unexpected response" (§3.5;
      # reqlite sends one, §7).
      def check!(token, response, opts)
        problem = shape_problem(response)
        if problem.nil? && opts && success?(response)
          begin
            PseudoTypes.convert!(response["r"], opts)
          rescue ReqlDriverError => e
            problem = e.message
          end
        end
        raise ReqlDriverError, "Bad response from server for token #{token}: #{problem}" if problem
        response
      end

      # The value of a success response (its pseudo-types already decoded):
      # the datum of an ATOM, the rows of a SEQUENCE/PARTIAL. Raises the error
      # of any other response.
      def value(response, term)
        case response["t"]
        when RT::SUCCESS_ATOM then response["r"][0]
        when RT::SUCCESS_SEQUENCE, RT::SUCCESS_PARTIAL then response["r"]
        else raise error(response, term)
        end
      end

      # The exception for an error (or unexpected) response to `term`.
      def error(response, term)
        klass, message =
          case response["t"]
          when RT::RUNTIME_ERROR
            [RethinkDB.const_get(RUNTIME_ERRORS.fetch(response["e"], :ReqlRuntimeError)), first(response)]
          when RT::COMPILE_ERROR then [ReqlServerCompileError, first(response)]
          when RT::CLIENT_ERROR then [ReqlDriverError, first(response)]
          else [ReqlRuntimeError, "Unexpected response: #{response.inspect}"]
          end
        klass.new("#{message}\nBacktrace:\n#{RPP.pp(term, response['b'])}")
      end

      # `value` as the server sent it (JSON), cut after EXCERPT_CHARS characters.
      def excerpt(value)
        text = begin
          JSON.generate(value, max_nesting: false)
        rescue JSON::GeneratorError
          value.inspect
        end
        text.length > EXCERPT_CHARS ? "#{text[0, EXCERPT_CHARS]}..." : text
      end

      private

      def first(response)
        r = response["r"]
        r.is_a?(Array) ? r[0] : r
      end

      # What is wrong with the response's envelope, with the response quoted; nil if nothing.
      def shape_problem(response)
        problem = if response.is_a?(Hash) then type_problem(response) || extras_problem(response)
                  else "the response is not a JSON object"
                  end
        problem && "#{problem}: #{excerpt(response)}"
      end

      def type_problem(response)
        t = response["t"]
        r = response["r"]
        case t
        when RT::SUCCESS_SEQUENCE, RT::SUCCESS_PARTIAL
          rows_problem(t, r)
        when RT::SUCCESS_ATOM, RT::SERVER_INFO
          # An empty "r" is a nil datum: reqlite answers NOREPLY_WAIT so.
          rows_problem(t, r) || (%(a #{TYPE_NAMES[t]} response holds #{r.size} values, not one) if r.size > 1)
        when RT::CLIENT_ERROR, RT::COMPILE_ERROR, RT::RUNTIME_ERROR
          error_problem(t, r, response["e"])
        when Integer, nil
          nil
        else
          %(the response type "t" is not an integer)
        end
      end

      def rows_problem(t, r)
        return if r.is_a?(Array)
        r.nil? ? %(a #{TYPE_NAMES[t]} response has no "r") : %(the "r" of a #{TYPE_NAMES[t]} response is not an array)
      end

      def error_problem(t, r, e)
        unless r.is_a?(Array) && r.size == 1 && r[0].is_a?(String)
          return %(the "r" of a #{TYPE_NAMES[t]} response is not [message])
        end
        %(the error type "e" is not an integer) unless e.nil? || e.is_a?(Integer)
      end

      # The optional fields: backtrace, notes and profile.
      def extras_problem(response)
        b = response["b"]
        unless b.nil? || (b.is_a?(Array) && b.all? { |frame| frame.is_a?(Integer) || frame.is_a?(String) })
          return %(the backtrace "b" is not an array of integers and strings)
        end
        n = response["n"]
        return %(the notes "n" are not an array of integers) unless n.nil? || (n.is_a?(Array) && n.all?(Integer))
        p = response["p"]
        %(the profile "p" is not an array) unless p.nil? || p.is_a?(Array)
      end
    end
  end
end
