# frozen_string_literal: true
module RethinkDB
  # The driver's exception hierarchy (as the official gem's exc.rb). Every Reql*
  # class is also reachable under its older Rql* name; `e.class.name` is the Reql
  # spelling. The native wire layer raises ReqlDriverError and ReqlAuthError,
  # looking them up here by name.
  class ReqlError < RuntimeError; end

  class ReqlRuntimeError < ReqlError; end
  class ReqlInternalError < ReqlRuntimeError; end
  class ReqlResourceLimitError < ReqlRuntimeError; end
  class ReqlQueryLogicError < ReqlRuntimeError; end
  class ReqlNonExistenceError < ReqlQueryLogicError; end
  class ReqlAvailabilityError < ReqlRuntimeError; end
  class ReqlOpFailedError < ReqlAvailabilityError; end
  class ReqlOpIndeterminateError < ReqlAvailabilityError; end
  class ReqlUserError < ReqlRuntimeError; end
  class ReqlPermissionError < ReqlRuntimeError; end

  class ReqlDriverError < ReqlError; end
  class ReqlAuthError < ReqlDriverError; end

  class ReqlCompileError < ReqlError; end
  class ReqlServerCompileError < ReqlCompileError; end
  class ReqlDriverCompileError < ReqlCompileError; end

  constants.grep(/\AReql/).each do |name|
    const_set(name.to_s.sub(/\AReql/, "Rql"), const_get(name))
  end
end
