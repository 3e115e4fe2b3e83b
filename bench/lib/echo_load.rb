# frozen_string_literal: true
# Load generator for bench/echo_external.rb: plain blocking Ruby sockets, no EM.
#   ruby bench/lib/echo_load.rb PORT CONNECTIONS ROUND_TRIPS MSG_BYTES
# Opens CONNECTIONS sockets to 127.0.0.1:PORT, prints "ready", waits for a line on
# stdin, then keeps one MSG_BYTES message in flight on every connection, visiting
# them round-robin (blocking read of the whole echo, then the next send), until
# ROUND_TRIPS echoes are back. Prints "done <round trips> <seconds>" and exits.
# Each read and write has a deadline, so a stalled server ends the process.
require "socket"

port, conns, total, msg_bytes = ARGV.map { |a| Integer(a) }
msg = ("y" * (msg_bytes - 1) + "\n").b.freeze
deadline_s = Float(ENV.fetch("ECHO_LOAD_TIMEOUT", "60"))
socks = Array.new(conns) do
  s = TCPSocket.new("127.0.0.1", port)
  s.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
  s
end
$stdout.sync = true
puts "ready"
$stdin.gets or exit(1)

def read_echo(sock, bytes, buf, deadline)
  got = 0
  while got < bytes
    chunk = sock.read_nonblock(bytes - got, buf, exception: false)
    case chunk
    when :wait_readable
      left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
      raise "no echo within the deadline" if left <= 0 || !sock.wait_readable(left)
    when nil then raise "server closed the connection"
    else got += chunk.bytesize
    end
  end
end

t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
deadline = t0 + deadline_s
buf = String.new(capacity: msg_bytes)
out = Array.new(conns, false) # a message of this connection awaits its echo
issued = done = 0
socks.each_with_index do |s, j|
  break if issued >= total
  s.syswrite(msg)
  out[j] = true
  issued += 1
end
i = 0
while done < total
  if out[i]
    s = socks[i]
    read_echo(s, msg_bytes, buf, deadline)
    done += 1
    if issued < total
      s.syswrite(msg)
      issued += 1
    else
      out[i] = false
    end
  end
  i += 1
  i = 0 if i == conns
end
elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
socks.each(&:close)
puts "done #{done} #{elapsed}"
