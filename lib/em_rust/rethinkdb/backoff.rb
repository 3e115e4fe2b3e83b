# frozen_string_literal: true
module RethinkDB
  # When a Connection reconnects after losing its server: `r.connect(reconnect:
  # { initial:, max:, attempts:, jitter: })`. Attempt k (0-based) starts
  # `min(max, initial * 2**k) * (1 - jitter * rand)` seconds after the previous
  # one failed (after the loss, for the first), so no delay exceeds `max`; after
  # `attempts` failed attempts the connection stays closed.
  class Backoff
    DEFAULTS = { initial: 0.05, max: 2.0, attempts: 10, jitter: 0.5 }.freeze

    attr_reader :initial, :max, :attempts, :jitter

    # nil/false: no reconnecting; true or a Hash (missing keys from DEFAULTS).
    def self.from_option(option)
      return nil if option.nil? || option == false
      return new if option == true
      raise ArgumentError, "reconnect: must be true, false or a Hash such as { initial: 0.05, max: 2.0, " \
                           "attempts: 10, jitter: 0.5 } (got #{option.inspect})." unless option.is_a?(Hash)

      option = option.transform_keys(&:to_sym)
      unknown = option.keys - DEFAULTS.keys
      raise ArgumentError, "reconnect: unknown option(s) #{unknown.map(&:inspect).join(', ')} " \
                           "(known: #{DEFAULTS.keys.map(&:inspect).join(', ')})." unless unknown.empty?

      new(**option)
    end

    def initialize(initial: DEFAULTS[:initial], max: DEFAULTS[:max], attempts: DEFAULTS[:attempts],
                   jitter: DEFAULTS[:jitter], random: Random.new)
      @initial = number(initial, "initial", 0.0, 60.0, " of seconds")
      @max = number(max, "max", @initial, 600.0, " of seconds")
      @jitter = number(jitter, "jitter", 0.0, 1.0, "")
      unless attempts.is_a?(Integer) && attempts.between?(1, 1_000_000)
        raise ArgumentError, "reconnect: attempts must be an Integer from 1 to 1000000 (got #{attempts.inspect})."
      end

      @attempts = attempts
      @random = random
    end

    # Seconds to wait before attempt `k` (0-based).
    def delay(k)
      ceiling = [@initial * (2**[k, 60].min), @max].min
      ceiling * (1 - (@jitter * @random.rand))
    end

    def to_h
      { initial: @initial, max: @max, attempts: @attempts, jitter: @jitter }
    end

    private

    def number(value, name, low, high, unit)
      unless value.is_a?(Numeric) && value.to_f.between?(low, high)
        raise ArgumentError, "reconnect: #{name} must be a number#{unit} from #{low} to #{high} (got #{value.inspect})."
      end

      value.to_f
    end
  end
end
