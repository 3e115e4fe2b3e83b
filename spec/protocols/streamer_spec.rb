# frozen_string_literal: true
require "tmpdir"
require "stringio"
require "em/io_streamer"

RSpec.describe "EM::FileStreamer and EM::IOStreamer" do
  around do |ex|
    Dir.mktmpdir("em_streamer") do |dir|
      @dir = dir
      ex.run
    end
  end

  def file_of(size)
    path = File.join(@dir, "f#{size}")
    File.binwrite(path, Random.new(size).bytes(size))
    path
  end

  # Serves one connection with +start+ (given the server connection; returns
  # a Deferrable) and returns what the client received until the server closed.
  def served(&start)
    received = +"".b
    outcome = nil
    run_em(8) do
      port = em_server(Module.new do
        define_method(:post_init) do
          d = start.call(self)
          d.callback { outcome = :succeeded; close_connection_after_writing }
          d.errback { |*why| outcome = [:failed, *why]; close_connection_after_writing }
        end
      end)
      EM.connect("127.0.0.1", port, Module.new do
        define_method(:receive_data) { |d| received << d }
        define_method(:unbind) { EM.stop }
      end)
    end
    [outcome, received]
  end

  def dechunk(body)
    out = +"".b
    body = body.dup
    loop do
      size_line = body.slice!(/\A\h+\r\n/) or raise "bad chunk header in #{body[0, 20].inspect}"
      size = size_line.to_i(16)
      return out if size.zero? && body == "\r\n"

      out << body.slice!(0, size)
      raise "missing chunk end" unless body.slice!(0, 2) == "\r\n"
    end
  end

  [0, 100, 16_384, 16_385, 300_000].each do |size|
    it "streams a #{size}-byte file as it is and in HTTP chunks" do
      path = file_of(size)
      outcome, data = served { |c| c.stream_file_data(path) }
      expect(outcome).to eq(:succeeded)
      expect(data).to eq(File.binread(path))
      next if size.zero? && real_em_code?(EM::FileStreamer) # EM sends "0\r\n" twice for an empty file

      outcome, data = served { |c| EM::FileStreamer.new(c, path, http_chunks: true) }
      expect(outcome).to eq(:succeeded)
      expect(dechunk(data)).to eq(File.binread(path))
    end
  end

  it "fails with 'file not found'" do
    outcome, data = served { |c| EM::FileStreamer.new(c, File.join(@dir, "nope")) }
    expect(outcome).to eq([:failed, "file not found"])
    expect(data).to eq("")
  end

  it "IOStreamer sends an IO's content, in HTTP chunks on request" do
    payload = Random.new(1).bytes(100_000)
    outcome, data = served { |c| EM::IOStreamer.new(c, StringIO.new(payload.dup)) }
    expect([outcome, data]).to eq([:succeeded, payload])
    outcome, data = served { |c| EM::IOStreamer.new(c, StringIO.new(payload.dup), http_chunks: true) }
    expect([outcome, dechunk(data)]).to eq([:succeeded, payload])
  end

  it "IOStreamer reads CHUNK_SIZE when it runs, so a program may redefine it" do
    original = EM::IOStreamer::CHUNK_SIZE
    EM::IOStreamer.send(:remove_const, :CHUNK_SIZE)
    EM::IOStreamer.const_set(:CHUNK_SIZE, 4)
    begin
      _, data = served { |c| EM::IOStreamer.new(c, StringIO.new("abcdefghij"), http_chunks: true) }
      expect(data).to eq("4\r\nabcd\r\n4\r\nefgh\r\n2\r\nij\r\n0\r\n\r\n")
    ensure
      EM::IOStreamer.send(:remove_const, :CHUNK_SIZE)
      EM::IOStreamer.const_set(:CHUNK_SIZE, original)
    end
  end

  it "IOStreamer subclasses may set their own CHUNK_SIZE" do
    only_em_rust_code(EM::IOStreamer, "EM looks CHUNK_SIZE up lexically")
    small = Class.new(EM::IOStreamer) { const_set(:CHUNK_SIZE, 3) }
    _, data = served { |c| small.new(c, StringIO.new("abcdefg"), http_chunks: true) }
    expect(data).to eq("3\r\nabc\r\n3\r\ndef\r\n1\r\ng\r\n0\r\n\r\n")
  end
end
