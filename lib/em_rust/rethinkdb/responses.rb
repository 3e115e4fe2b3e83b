# frozen_string_literal: true
module RethinkDB
  # A decoded response ({"t" => type, "r" => [...], "e", "b", "n", "p"}) to the
  # value a query returns, or to the exception it raises, with the query
  # pretty-printed and the backtrace's subterm underlined.
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

    class << self
      def success?(response)
        t = response["t"]
        t == RT::SUCCESS_ATOM || t == RT::SUCCESS_SEQUENCE || t == RT::SUCCESS_PARTIAL
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

      # Decodes the pseudo-types of a success response's rows in place.
      def convert!(response, opts)
        PseudoTypes.convert!(response["r"], opts) if success?(response) && response["r"].is_a?(Array)
        response
      end

      private

      def first(response)
        r = response["r"]
        r.is_a?(Array) ? r[0] : r
      end
    end
  end
end
