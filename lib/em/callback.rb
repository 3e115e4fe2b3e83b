# frozen_string_literal: true

module EventMachine
  # Coerces its arguments to something that responds to #call:
  # - (object, method): a lambda that sends +method+ to +object+ with its arguments
  # - (callable): the callable itself
  # - (&block): the block
  # @raise [ArgumentError] when none of these applies
  def self.Callback(object = nil, method = nil, &blk)
    return ->(*args, **kw, &b) { object.__send__(method, *args, **kw, &b) } if object && method
    return object if object.respond_to?(:call)

    blk or raise ArgumentError
  end
end
