# frozen_string_literal: true
# EventMachine's event codes: the numbers its reactor passes to
# `EventMachine.event_callback(signature, event, data)`. Code written against
# event_callback (or that dispatches on these itself) uses the names, so they
# carry EventMachine's values. Defined only if the native library has not
# already set them.
module EventMachine
  {
    TimerFired: 100,
    ConnectionData: 101,
    ConnectionUnbound: 102,
    ConnectionAccepted: 103,
    ConnectionCompleted: 104,
    LoopbreakSignalled: 105,
    ConnectionNotifyReadable: 106,
    ConnectionNotifyWritable: 107,
    SslHandshakeCompleted: 108,
    SslVerify: 109
  }.each { |name, code| const_set(name, code) unless const_defined?(name, false) }
end
