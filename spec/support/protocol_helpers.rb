# frozen_string_literal: true
# Helpers for spec/protocols (run_em and closed_port are in core_helpers.rb):
# loopback servers on ephemeral ports (EM servers and plain-Ruby fake peers on
# threads), and a way to tell whose protocol code is under test.
require "socket"

module ProtocolHelpers
  REAL_EM_DIR = %r{/vendor_ruby/em/}

  module_function

  # Starts an EM TCP server on 127.0.0.1 and an ephemeral port.
  # @return [Integer] the port
  def em_server(handler = nil, *args, &blk)
    sig = EM.start_server("127.0.0.1", 0, handler, *args, &blk)
    Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first
  end

  # True when +const+ (a Module, or a method of one) is the real
  # eventmachine's code rather than em_rust's: behaviour em_rust fixes is
  # checked only on em_rust's code.
  def real_em_code?(mod, meth = nil)
    meth ||= mod.instance_methods(false).first || mod.private_instance_methods(false).first
    file = mod.instance_method(meth).source_location&.first
    REAL_EM_DIR.match?(file.to_s)
  end

  # Skips the example when +mod+ is the real eventmachine's code.
  def only_em_rust_code(mod, why)
    skip("real eventmachine's #{mod}: #{why}") if real_em_code?(mod)
  end

  # A fake peer on a plain-Ruby thread: accepts connections on 127.0.0.1 and
  # runs the block with each client socket (and its index). Closed with
  # #close; a block's exception is kept and re-raised by #check!.
  class FakePeer
    attr_reader :port, :errors

    def initialize(&handler)
      @server = TCPServer.new("127.0.0.1", 0)
      @port = @server.addr[1]
      @errors = []
      @clients = []
      @thread = Thread.new do
        index = 0
        loop do
          client = @server.accept
          @clients << client
          n = index
          index += 1
          Thread.new do
            handler.call(client, n)
          rescue IOError, SystemCallError
            nil
          rescue StandardError, RSpec::Expectations::ExpectationNotMetError => e
            @errors << e
          ensure
            client.close unless client.closed?
          end
        end
      rescue IOError, SystemCallError
        nil
      end
    end

    # Best effort: a handler thread may be closing the same client at this moment.
    def close
      @server.close unless @server.closed?
      @clients.each do |c|
        c.close unless c.closed?
      rescue IOError, SystemCallError
        nil
      end
      @thread.join(1)
    end

    def check!
      raise @errors.first unless @errors.empty?
    end
  end

  # Reads a line ending in "\n" (with "\r\n" removed) from a plain socket.
  def read_line(io, timeout = 3)
    line = +""
    until line.end_with?("\n")
      raise "no line within #{timeout}s (got #{line.inspect})" unless IO.select([io], nil, nil, timeout)

      ch = io.read(1) or raise(EOFError, "end of stream after #{line.inspect}")
      line << ch
    end
    line.chomp
  end
end

RSpec.configure do |config|
  config.include ProtocolHelpers, file_path: %r{spec/protocols/}
end

module ProtocolHelpers
  module_function

  # Reads an HTTP request (head and Content-Length body) from a plain socket.
  # @return [Array(Array<String>, String)] head lines and body
  def read_http_request(io)
    head = []
    while (line = read_line(io)) != ""
      head << line
    end
    length = head.grep(/\Acontent-length:/i).first.to_s[/\d+/].to_i
    body = +""
    body << io.read(length - body.bytesize) while body.bytesize < length
    [head, body]
  end

  # Silences warn (deprecation notices) for the example.
  def quietly
    old = $stderr
    $stderr = StringIO.new
    yield
  ensure
    $stderr = old
  end
end
