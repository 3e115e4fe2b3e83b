# frozen_string_literal: true
# A RethinkDB server that misbehaves on purpose, for the specs of bad input: it
# listens on 127.0.0.1, answers the V1_0 handshake (SCRAM-SHA-256 with the empty
# admin password) unless told otherwise, then hands each query frame to a block
# that writes whatever the spec wants.
#
#   server = FakeReqlServer.new { |io, token, query| io.write(FakeReqlServer.frame(token, '{"t":1,"r":[1]}')) }
#   server = FakeReqlServer.new(handshake: ->(io) { io.close })  # replaces the handshake
#   server = FakeReqlServer.new(process: true) { ... }            # serves from a child process
#   server.port; server.close
require "socket"
require "json"
require "openssl"
require "base64"

class FakeReqlServer
  V1_0 = 0x34c2bdc3
  SALT = "fake-salt".b
  ITERATIONS = 16

  # One response frame: token, length, payload.
  def self.frame(token, payload)
    [token, payload.bytesize].pack("Q<L<") + payload.b
  end

  # A server that answers every START with SUCCESS_ATOM [1] (and ignores the rest).
  def self.well_behaved
    new do |io, token, query|
      io.write(frame(token, '{"t":1,"r":[1]}')) if query.start_with?("[1,")
    end
  end

  attr_reader :port

  # `process: true` serves from a forked child, so the server answers while
  # this process holds the GVL.
  def initialize(handshake: nil, process: false, &on_query)
    @handshake = handshake
    @on_query = on_query
    @server = TCPServer.new("127.0.0.1", 0)
    @port = @server.addr[1]
    @clients = []
    if process
      @pid = fork do
        GC.stress = false # inherited from a GC.stress example
        accept_loop
        exit!(0)
      end
      @server.close
    else
      @thread = Thread.new { accept_loop }
      @thread.report_on_exception = false
    end
  end

  def close
    if @pid
      Process.kill(:KILL, @pid)
      Process.wait(@pid)
      return
    end
    @server.close unless @server.closed?
    @clients.each { |io| io.close unless io.closed? }
    @thread.join(2)
  end

  private

  def accept_loop
    loop do
      io = @server.accept
      @clients << io
      Thread.new { serve(io) }.report_on_exception = false
    end
  rescue IOError, SystemCallError
    nil
  end

  def serve(io)
    if @handshake
      @handshake.call(io)
      return
    end
    shake_hands(io)
    loop do
      header = io.read(12) or return
      token, length = header.unpack("Q<L<")
      @on_query&.call(io, token, io.read(length))
    end
  rescue IOError, SystemCallError
    nil
  end

  def shake_hands(io)
    raise IOError, "not V1_0" unless io.read(4).unpack1("L<") == V1_0
    first = JSON.parse(read_message(io))["authentication"]
    client_first_bare = first.delete_prefix("n,,")
    nonce = client_first_bare[/r=([^,]*)/, 1] + "server"
    send_message(io, success: true, min_protocol_version: 0, max_protocol_version: 0, server_version: "fake")
    server_first = "r=#{nonce},s=#{Base64.strict_encode64(SALT)},i=#{ITERATIONS}"
    send_message(io, success: true, authentication: server_first)
    final = JSON.parse(read_message(io))["authentication"]
    without_proof = final.sub(/,p=.*\z/, "")
    salted = OpenSSL::KDF.pbkdf2_hmac("", salt: SALT, iterations: ITERATIONS, length: 32, hash: "sha256")
    server_key = OpenSSL::HMAC.digest("SHA256", salted, "Server Key")
    signature = OpenSSL::HMAC.digest("SHA256", server_key, "#{client_first_bare},#{server_first},#{without_proof}")
    send_message(io, success: true, authentication: "v=#{Base64.strict_encode64(signature)}")
  end

  def read_message(io)
    io.readline("\0").chomp("\0")
  end

  def send_message(io, object)
    io.write(JSON.generate(object) + "\0")
  end
end
