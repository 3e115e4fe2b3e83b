# frozen_string_literal: true
require "spec_helper"
require "stringio"
require "em/io_streamer"

RSpec.describe "sending files and streams" do
  def file_with(name, bytes)
    File.join(tmpdir, name).tap { |f| File.binwrite(f, bytes) }
  end

  # Serves one connection with `serve` (called with the server connection in
  # post_init); returns [everything the client received, unbind reason].
  def served_bytes(&serve)
    result = nil
    server = Class.new(EM::Connection) { define_method(:post_init) { serve.call(self) } }
    run_em(10) do
      _, port = start_server_on_free_port(server)
      EM.connect("127.0.0.1", port, ConnectionHelpers::Collector, ->(data, reason) { result = [data, reason]; EM.stop })
    end
    result
  end

  # Decodes an HTTP chunked body; returns [chunk sizes, body, rest after the last chunk].
  def dechunk(raw)
    sizes = []
    body = +"".b
    pos = 0
    loop do
      eol = raw.index("\r\n", pos) or raise "bad chunked encoding at #{pos}: #{raw.byteslice(pos, 20).inspect}"
      size = Integer(raw.byteslice(pos, eol - pos), 16)
      sizes << size
      pos = eol + 2
      if size.zero?
        return [sizes, body, raw.byteslice(pos..)]
      end
      body << raw.byteslice(pos, size)
      pos += size
      raise "chunk not followed by CRLF" unless raw.byteslice(pos, 2) == "\r\n"
      pos += 2
    end
  end

  describe "send_file_data" do
    it "sends a small file's bytes and returns 0" do
      content = (0..255).map(&:chr).join.b * 40
      path = file_with("small.bin", content)
      ret = nil
      data, = served_bytes do |c|
        ret = c.send_file_data(path)
        c.close_connection_after_writing
      end
      expect(ret).to eq(0)
      expect(data).to eq(content)
    end

    it "sends nothing for an empty file" do
      path = file_with("empty.bin", "")
      data, = served_bytes do |c|
        c.send_data("<")
        c.send_file_data(path)
        c.send_data(">")
        c.close_connection_after_writing
      end
      expect(data).to eq("<>")
    end

    it "raises IOError naming the file when it does not exist" do
      missing = File.join(tmpdir, "missing.bin")
      error = nil
      served_bytes do |c|
        c.send_file_data(missing)
      rescue IOError => e
        error = e
      ensure
        c.close_connection_after_writing
      end
      expect(error.message).to include(missing).and include("No such file or directory")
    end
  end

  describe "stream_file_data" do
    it "returns an EM::FileStreamer (a Deferrable) that succeeds, and the file arrives whole" do
      [["small.bin", 10_000], ["large.bin", 300_000]].each do |name, size|
        content = pattern_bytes(size, seed: size)
        path = file_with(name, content)
        streamer = nil
        succeeded = false
        data, = served_bytes do |c|
          streamer = c.stream_file_data(path)
          streamer.callback { succeeded = true; c.close_connection_after_writing }
        end
        expect(streamer).to be_a(EM::FileStreamer).and(be_a(EM::Deferrable))
        expect(succeeded).to be(true)
        expect(data.bytesize).to eq(size)
        expect(data == content).to be(true), "#{name} arrived altered"
      end
    end

    it "with http_chunks: true sends HTTP chunked encoding: a small file as one chunk, then 0\\r\\n\\r\\n" do
      content = pattern_bytes(10_240, seed: 2)
      path = file_with("small.bin", content)
      data, = served_bytes do |c|
        c.stream_file_data(path, http_chunks: true).callback { c.close_connection_after_writing }
      end
      sizes, body, rest = dechunk(data)
      expect(sizes).to eq([10_240, 0])
      expect(body == content).to be(true)
      expect(rest).to eq("\r\n")
    end

    it "with http_chunks: true sends a large file in 16 KiB chunks" do
      content = pattern_bytes(200_000, seed: 3)
      path = file_with("large.bin", content)
      data, = served_bytes do |c|
        c.stream_file_data(path, http_chunks: true).callback { c.close_connection_after_writing }
      end
      sizes, body, rest = dechunk(data)
      expect(sizes).to eq([16_384] * 12 + [200_000 - 12 * 16_384, 0])
      expect(body == content).to be(true)
      expect(rest).to eq("\r\n")
    end

    it "fails with 'file not found' when the file does not exist" do
      errors = []
      served_bytes do |c|
        c.stream_file_data(File.join(tmpdir, "missing")).errback { |e| errors << e; c.close_connection }
      end
      expect(errors).to eq(["file not found"])
    end
  end

  describe "EM::IOStreamer (em/io_streamer)" do
    around do |example|
      original = EM::IOStreamer::CHUNK_SIZE
      example.run
    ensure
      EM::IOStreamer.send(:remove_const, :CHUNK_SIZE)
      EM::IOStreamer.const_set(:CHUNK_SIZE, original)
    end

    it "streams an IO to the connection and succeeds at EOF" do
      content = pattern_bytes(1024 * 1024, seed: 4)
      succeeded = false
      data, = served_bytes do |c|
        s = EM::IOStreamer.new(c, StringIO.new(content))
        expect(s).to be_a(EM::Deferrable)
        s.callback { succeeded = true; c.close_connection_after_writing }
      end
      expect(succeeded).to be(true)
      expect(data == content).to be(true)
    end

    it "reads EM::IOStreamer::CHUNK_SIZE at run time, so a program may redefine it; http_chunks frames each read" do
      EM::IOStreamer.send(:remove_const, :CHUNK_SIZE)
      EM::IOStreamer.const_set(:CHUNK_SIZE, 7)
      data, = served_bytes do |c|
        EM::IOStreamer.new(c, StringIO.new("abcdefghij" * 5), http_chunks: true)
                      .callback { c.close_connection_after_writing }
      end
      sizes, body, = dechunk(data)
      expect(sizes).to eq([7] * 7 + [1, 0])
      expect(body).to eq("abcdefghij" * 5)
    end

    it "streams a pipe" do
      r, w = IO.pipe
      held_sockets << r << w
      w.write("from a pipe")
      w.close
      data, = served_bytes do |c|
        EM::IOStreamer.new(c, r).callback { c.close_connection_after_writing }
      end
      expect(data).to eq("from a pipe")
    end
  end
end
