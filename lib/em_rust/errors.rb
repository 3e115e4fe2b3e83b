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

  # errno number => Errno class (what `unbind(reason)` receives); :unknown otherwise.
  ERRNOS = Errno.constants.each_with_object(Hash.new(:unknown)) do |name, map|
    klass = Errno.const_get(name)
    map[klass::Errno] = klass if klass.is_a?(Class) && klass.const_defined?(:Errno)
  end.freeze
end
