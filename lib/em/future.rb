# frozen_string_literal: true

require_relative "deferrable"

module EventMachine
  module Deferrable
    # Evaluates +arg+ (calling it first if it is callable). When the result is a
    # deferrable, attaches +cb+ and +eb+ to it, or the block when neither is given.
    # @return the evaluated +arg+, whatever it is
    def self.future(arg, cb = nil, eb = nil, &blk)
      value = arg.respond_to?(:call) ? arg.call : arg
      return value unless value.respond_to?(:set_deferred_status)

      if cb || eb
        value.callback(&cb) if cb
        value.errback(&eb) if eb
      elsif blk
        value.callback(&blk)
      end
      value
    end
  end
end
