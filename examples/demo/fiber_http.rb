# frozen_string_literal: true
# A fiber doing blocking-style calls (Net::HTTP, sleep) on the reactor while the
# loop keeps serving: the HTTP server it calls is an EM server in the same loop.
require "net/http"

module Demo
  # Answers every request with a small text body (one request per connection).
  class TinyHttp < EM::Connection
    def receive_data(data)
      (@request ||= +"") << data
      return unless @request.include?("\r\n\r\n")

      body = "hello from the EM server (#{@request[/\A\S+ \S+/]})\n"
      send_data("HTTP/1.1 200 OK\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
      close_connection_after_writing
    end
  end

  module_function

  def fiber_http
    EM.run do
      server = EM.start_server("127.0.0.1", 0, TinyHttp)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(server)).first
      ticks = 0
      EM.add_periodic_timer(0.01) { ticks += 1 }
      EM.fiber do
        3.times do |i|
          body = Net::HTTP.get(URI("http://127.0.0.1:#{port}/page/#{i + 1}"))
          log "fiber: Net::HTTP.get returned #{body.strip.inspect}"
        end
        before = ticks
        sleep 0.1
        log "fiber: sleep 0.1 returned; the loop ran its 10 ms timer #{ticks - before} times meanwhile"
        EM.stop
      end
      log "EM.fiber returned at once; the fiber is suspended in Net::HTTP"
    end
  end
end
