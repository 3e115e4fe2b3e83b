# frozen_string_literal: true

module EventMachine
  module Protocols
    # A memcached client (text protocol): get, get_hash, set, delete.
    #
    #   cache = EM::P::Memcache.connect("127.0.0.1", 11211)
    #   cache.set(:a, "hello") { cache.get(:a) { |v| p v } }
    #
    # Commands given before the connection is up are sent once it is. A lost
    # connection is re-established after a second (commands wait meanwhile);
    # if the very first connect fails, unbind raises "Unable to connect to
    # memcached server".
    module Memcache
      include EventMachine::Deferrable

      Cstored    = "STORED"
      Cend       = "END"
      Cdeleted   = "DELETED"
      Cunknown   = "NOT_FOUND"
      Cerror     = "ERROR"
      Cempty     = ""
      Cdelimiter = "\r\n"

      # Raised inside the reader while a reply is incomplete.
      class ParserError < StandardError; end

      # @return [Connection] a connection including Memcache
      def self.connect(host = "localhost", port = 11211)
        EventMachine.connect(host, port, self, host, port)
      end

      def initialize(host, port = 11211)
        @host = host
        @port = port
      end

      # Fetches +keys+ and yields their values in the same order (nil for a
      # miss). Whitespace in keys becomes "_".
      def get(*keys, &blk)
        raise ArgumentError, "get needs a block" unless blk

        callback do
          names = keys.map { |k| k.to_s.gsub(/\s/, "_") }
          send_data("get #{names.join(' ')}\r\n")
          @get_cbs << [names, ->(values) { blk.call(*names.map { |n| values[n] }) }]
        end
      end

      # Like get, but yields { key => value }.
      def get_hash(*keys)
        raise ArgumentError, "get_hash needs a block" unless block_given?

        get(*keys) { |*values| yield keys.zip(values).to_h }
      end

      # Stores +val+ (to_s) under +key+. With a block, it is called with true
      # once stored (false if the server refused); without, the server is told
      # not to answer.
      def set(key, val, exptime = 0, &cb)
        callback do
          data = val.to_s
          send_cmd(:set, key, 0, exptime, data.bytesize, !cb)
          send_data(data)
          send_data(Cdelimiter)
          @set_cbs << cb if cb
        end
      end

      # Deletes +key+. A block is called with true if it existed, else false.
      def delete(key, expires = 0, &cb)
        callback do
          send_data("delete #{key} #{expires}#{cb ? '' : ' noreply'}\r\n")
          @del_cbs << cb if cb
        end
      end
      alias del delete

      def connection_completed
        @get_cbs = []
        @set_cbs = []
        @del_cbs = []
        @values = {}
        @buffer = String.new(encoding: Encoding::BINARY)
        @reconnecting = false
        @connected = true
        succeed
      end

      def receive_data(data)
        (@buffer ||= String.new(encoding: Encoding::BINARY)) << data
        while (at = @buffer.index(Cdelimiter))
          line = @buffer.byteslice(0, at)
          rest = @buffer.byteslice(at + 2, @buffer.bytesize - at - 2)
          begin
            @buffer = rest
            process_cmd(line)
          rescue ParserError
            @buffer = line + Cdelimiter + rest # wait for the rest of the value
            break
          end
        end
      end

      # @private Handles one reply line (a VALUE line also takes its data).
      def process_cmd(line)
        case line.strip
        when /\AVALUE\s+(\S+)\s+\d+\s+(\d+)/
          read_value(Regexp.last_match(1), Integer(Regexp.last_match(2), 10)) # "010" is 10
        when Cend
          keys_and_cb = @get_cbs.shift
          keys_and_cb&.last&.call(@values)
          @values = {}
        when Cstored then @set_cbs.shift&.call(true)
        when "NOT_STORED", "EXISTS" then @set_cbs.shift&.call(false)
        when Cdeleted then @del_cbs.shift&.call(true)
        when Cunknown then @del_cbs.shift&.call(false)
        else warn "memcache: unexpected reply #{line.inspect}"
        end
      end

      def unbind
        raise "Unable to connect to memcached server" unless @connected || @reconnecting

        @connected = false
        @reconnecting = true
        @deferred_status = nil # commands wait for the next connection_completed
        EventMachine.add_timer(1) { reconnect(@host, @port) }
      end

      private

      def send_cmd(cmd, key, flags = 0, exptime = 0, bytes = 0, noreply = false)
        send_data("#{cmd} #{key} #{flags} #{exptime} #{bytes}#{noreply ? ' noreply' : ''}\r\n")
      end

      def read_value(key, bytes)
        raise ParserError if @buffer.bytesize < bytes + 2

        @values[key] = @buffer.byteslice(0, bytes)
        @buffer = @buffer.byteslice(bytes + 2, @buffer.bytesize - bytes - 2)
      end
    end
  end
end
