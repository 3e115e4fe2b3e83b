# frozen_string_literal: true
module RethinkDB
  # The servers a Connection may use, from `r.connect`'s options: `host:` and
  # `port:` for one, or `hosts: [[host, port], ...]` for several (tried in
  # order). Bad input raises ArgumentError at connect.
  module Hosts
    module_function

    # [[host, port], ...] from the options Hash (keys are Symbols).
    def parse(opts, default_host, default_port)
      unless opts.key?(:hosts)
        return [[(opts[:host] || default_host).to_s, port(opts[:port] || default_port, "port:")]]
      end
      if opts.key?(:host) || opts.key?(:port)
        raise ArgumentError, "Give either host:/port: or hosts:, not both."
      end

      list = opts[:hosts]
      unless list.is_a?(Array) && !list.empty?
        raise ArgumentError, "hosts: must be a non-empty Array of [host, port] pairs (got #{list.inspect})."
      end
      list.map { |entry| pair(entry) }
    end

    def pair(entry)
      unless entry.is_a?(Array) && entry.size == 2 && (entry[0].is_a?(String) || entry[0].is_a?(Symbol))
        raise ArgumentError, "hosts: each entry must be a [host, port] pair such as [\"127.0.0.1\", 28015] " \
                             "(got #{entry.inspect})."
      end
      host = entry[0].to_s
      raise ArgumentError, "hosts: empty host name in #{entry.inspect}." if host.empty?

      [host, port(entry[1], "hosts: port of #{host}")]
    end

    def port(value, what)
      number = value.is_a?(Integer) ? value : Integer(value.to_s, 10, exception: false)
      return number if number&.between?(1, 65_535)

      raise ArgumentError, "#{what} must be a port number from 1 to 65535 (got #{value.inspect})."
    end
  end
end
