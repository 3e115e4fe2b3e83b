# frozen_string_literal: true
# A line echo server and clients that each send messages and wait for every answer.
module Demo
  class EchoServer < EM::Connection
    include EM::Protocols::LineText2

    def receive_line(line) = send_data("echo: #{line}\n")
  end

  # Sends `count` lines one at a time (the next after the echo of the previous).
  class EchoClient < EM::Connection
    include EM::Protocols::LineText2

    def initialize(name, count, done)
      super()
      @name = name
      @count = count
      @done = done
      @sent = 0
    end

    def connection_completed = send_next

    def receive_line(line)
      Demo.log "#{@name} got #{line.inspect}" if @sent == 1 || @sent == @count
      @sent < @count ? send_next : close_connection
    end

    def unbind = @done.call(@name, @sent)

    private

    def send_next
      @sent += 1
      send_data("#{@name} message #{@sent}\n")
    end
  end

  module_function

  def echo(clients: 3, messages: 1000)
    EM.run do
      server = EM.start_server("127.0.0.1", 0, EchoServer)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(server)).first
      log "echo server on 127.0.0.1:#{port}"
      finished = 0
      done = lambda do |name, sent|
        log "#{name} closed after #{sent} round trips"
        EM.stop if (finished += 1) == clients
      end
      clients.times { |i| EM.connect("127.0.0.1", port, EchoClient, "client#{i + 1}", messages, done) }
    end
    log "#{clients * messages} round trips over #{clients} connections"
  end
end
