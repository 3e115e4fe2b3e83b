# frozen_string_literal: true
module RethinkDB
  # Decodes the server's pseudo-types inside a response, in place: TIME -> Time,
  # GROUPED_DATA -> Hash, BINARY -> RethinkDB::Binary. Each conversion is on
  # unless the query's time_format/group_format/binary_format is 'raw'. Other
  # pseudo-types (GEOMETRY) stay Hashes, as in the official driver.
  #
  # A pseudo-type it cannot decode raises ReqlDriverError saying what is wrong
  # (Responses.check! adds the token).
  module PseudoTypes
    FORMATS = %i[time_format group_format binary_format].freeze

    # What the server's decoder accepts (src/rdb_protocol/base64.cc): the
    # alphabet with line breaks and blanks anywhere, then only padding and
    # blanks; a lone character in the last group is no byte.
    BASE64 = %r{\A[A-Za-z0-9+/\r\n\t ]*+[=\r\n\t ]*\z}

    class << self
      # Converts `value` (an Array or Hash from a response) per `opts`; returns it.
      def convert!(value, opts)
        time = opts[:time_format] != "raw"
        group = opts[:group_format] != "raw"
        binary = opts[:binary_format] != "raw"
        return value unless time || group || binary
        walk(value, time, group, binary)
      end

      private

      def walk(value, time, group, binary)
        case value
        when Hash
          case value["$reql_type$"]
          when "TIME" then return to_time(value) if time
          when "GROUPED_DATA" then return to_hash(value, time, group, binary) if group
          when "BINARY" then return to_binary(value) if binary
          end
          value.each do |k, v|
            case v
            when Hash, Array then value[k] = walk(v, time, group, binary)
            end
          end
        when Array
          value.each_with_index do |v, i|
            case v
            when Hash, Array then value[i] = walk(v, time, group, binary)
            end
          end
        end
        value
      end

      # Millisecond precision; the zone's offset unless the zone is empty or "Z".
      def to_time(value)
        epoch = value["epoch_time"]
        zone = value["timezone"]
        bad(value, %(a TIME pseudo-type without a numeric "epoch_time")) unless epoch.is_a?(Numeric)
        bad(value, %(a TIME pseudo-type whose "timezone" is not a string)) unless zone.nil? || zone.is_a?(String)
        time = begin
          Time.at((epoch * 1000).to_i / 1000.0)
        rescue RangeError # FloatDomainError: the milliseconds overflow to Infinity
          bad(value, %(a TIME pseudo-type whose "epoch_time" is out of range))
        end
        return time.utc if zone.nil? || zone == "" || zone == "Z"
        begin
          time.getlocal(zone)
        rescue ArgumentError => e
          bad(value, %(a TIME pseudo-type with a bad "timezone" (#{e.message})))
        end
      end

      # {group => reduction}, both decoded too.
      def to_hash(value, time, group, binary)
        data = value["data"]
        unless data.is_a?(Array) && data.all? { |pair| pair.is_a?(Array) && pair.size == 2 }
          bad(value, %(a GROUPED_DATA pseudo-type whose "data" is not an array of [group, reduction] pairs))
        end
        walk(data, time, group, binary).to_h
      end

      def to_binary(value)
        data = value["data"]
        bad(value, %(a BINARY pseudo-type without a string "data")) unless data.is_a?(String)
        unless BASE64.match?(data) && data.count("A-Za-z0-9+/") % 4 != 1
          bad(value, %(a BINARY pseudo-type whose "data" is not base64))
        end
        Binary.new(data.unpack1("m"))
      end

      def bad(value, what)
        raise ReqlDriverError, "#{what}: #{Responses.excerpt(value)}"
      end
    end
  end
end
