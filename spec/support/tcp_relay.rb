# frozen_string_literal: true
# A plain TCP relay on a free loopback port in front of a server (a reqlite):
# #cut closes every relayed connection, as a server dying would, while the
# server itself keeps running. Threads: one accepting, one per connection.
require "socket"

class TcpRelay
  attr_reader :port

  def initialize(target_port)
    @target_port = target_port
    @server = TCPServer.new("127.0.0.1", 0)
    @port = @server.addr[1]
    @lock = Mutex.new
    @pairs = []
    @accepting = Thread.new { accept_loop }
    @accepting.report_on_exception = false
  end

  # Relayed connections now open.
  def connections
    @lock.synchronize { @pairs.size }
  end

  # Ends every relayed connection (the client reads EOF).
  def cut
    pairs = @lock.synchronize { @pairs.dup }
    # shutdown, not close: it sends the FIN now and wakes the relaying thread,
    # which then closes both.
    pairs.each { |pair| pair.each { |io| shutdown_quietly(io) } }
  end

  def stop
    @accepting.kill.join(1)
    close_quietly(@server)
    cut
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 2
    sleep 0.01 while connections.positive? && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
  end

  private

  def accept_loop
    loop do
      client = @server.accept
      backend = TCPSocket.new("127.0.0.1", @target_port)
      pair = [client, backend]
      @lock.synchronize { @pairs << pair }
      thread = Thread.new { relay(pair) }
      thread.report_on_exception = false
    end
  end

  def relay(pair)
    client, backend = pair
    loop do
      ready, = IO.select(pair)
      ready.each do |from|
        data = from.read_nonblock(65_536, exception: false)
        next if data == :wait_readable
        return if data.nil?

        (from.equal?(client) ? backend : client).write(data)
      end
    end
  rescue IOError, SystemCallError
    nil
  ensure
    pair.each { |io| close_quietly(io) }
    @lock.synchronize { @pairs.delete(pair) }
  end

  def shutdown_quietly(io)
    io.shutdown(Socket::SHUT_RDWR)
  rescue IOError, SystemCallError
    nil
  end

  def close_quietly(io)
    io.close
  rescue IOError, SystemCallError
    nil
  end
end
