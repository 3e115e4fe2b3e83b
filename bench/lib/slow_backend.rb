# frozen_string_literal: true
# A backend for bench/thin_backend_fibers.rb, run as its own process on em_rust
# whatever the benchmark measures: answers every HTTP request after 50 ms, many
# at once. Prints its port, then serves until its parent kills it.
#   ruby bench/lib/slow_backend.rb
$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
require "em_rust"
require "socket"

module SlowBackend
  def receive_data(data)
    (@request ||= +"") << data
    return unless @request.include?("\r\n\r\n")

    EM.add_timer(0.05) do
      send_data("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nbackend")
      close_connection_after_writing
    end
  end
end

$stdout.sync = true
EM.run do
  sig = EM.start_server("127.0.0.1", 0, SlowBackend)
  puts Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first
end
