# frozen_string_literal: true
require "base64"

module RethinkDB
  # Decodes the server's pseudo-types inside a response, in place: TIME -> Time,
  # GROUPED_DATA -> Hash, BINARY -> RethinkDB::Binary. Each conversion is on
  # unless the query's time_format/group_format/binary_format is 'raw'.
  module PseudoTypes
    FORMATS = %i[time_format group_format binary_format].freeze

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
          when "GROUPED_DATA" then return walk(value["data"], time, group, binary).to_h if group
          when "BINARY" then return Binary.new(Base64.decode64(value["data"])) if binary
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
        time = Time.at((value["epoch_time"] * 1000).to_i / 1000.0)
        zone = value["timezone"]
        zone.nil? || zone == "" || zone == "Z" ? time.utc : time.getlocal(zone)
      end
    end
  end
end
