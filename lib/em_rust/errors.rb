# frozen_string_literal: true
# EventMachine's exception classes, under EventMachine's names.
module EventMachine
  class ConnectionError < RuntimeError; end
  class ConnectionNotBound < RuntimeError; end
  class NoHandlerForAcceptedConnection < RuntimeError; end
  class UnknownTimerFired < RuntimeError; end
  class Unsupported < RuntimeError; end
  class InvalidSignature < RuntimeError; end
  class InvalidPrivateKey < RuntimeError; end
  class FileNotFoundException < Exception; end
  class BadParams < Exception; end
  class BadCertParams < BadParams; end
  class BadPrivateKeyParams < BadParams; end
end
