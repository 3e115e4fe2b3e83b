# frozen_string_literal: true
require "spec_helper"
require "tmpdir"
require "fileutils"
require "fastfilereaderext"

# `require 'fastfilereaderext'`: EventMachine::FastFileReader::Mapper reads byte
# ranges of a file. Where EventMachine's C++ aborts or segfaults the process (a
# file it cannot map, a negative offset) em_rust raises; those examples are
# em_rust's.
RSpec.describe "EventMachine::FastFileReader" do
  around do |example|
    Dir.mktmpdir("em_ffr") do |dir|
      @dir = dir
      example.run
    end
  end

  def file(name, content)
    path = File.join(@dir, name)
    File.binwrite(path, content)
    path
  end

  let(:path) { file("data.bin", "hello world\n") }
  let(:mapper) { EventMachine::FastFileReader::Mapper.new(path) }


  it "is a class with a Mapper class that has size, get_chunk and close" do
    expect(EventMachine::FastFileReader).to be_a(Class)
    expect(EventMachine::FastFileReader::Mapper).to be_a(Class)
    expect(EventMachine::FastFileReader::Mapper.public_instance_methods(false)).to include(:size, :get_chunk, :close)
    expect(EventMachine::FastFileReader::Mapper.instance_method(:get_chunk).arity).to eq(2)
  end

  it "in em_rust mode the feature is em_rust's own file", em_rust_only: "the path is em_rust's lib" do
    expect($LOADED_FEATURES.grep(%r{/fastfilereaderext\.(rb|so)\z})).to eq([File.join(CoreHelpers::LIB_DIR, "fastfilereaderext.rb")])
  end

  it "size is the file's size in bytes" do
    expect(mapper.size).to eq(12)
    big = EventMachine::FastFileReader::Mapper.new(file("big.bin", "x".b * 100_000 + "\xff\x00".b))
    expect(big.size).to eq(100_002)
    big.close
  end

  it "get_chunk(offset, length) returns those bytes as a new binary String" do
    expect(mapper.get_chunk(0, 5)).to eq("hello")
    expect(mapper.get_chunk(6, 6)).to eq("world\n")
    expect(mapper.get_chunk(0, 12)).to eq("hello world\n")
    expect(mapper.get_chunk(11, 1)).to eq("\n")
    expect(mapper.get_chunk(0, 0)).to eq("")
    expect(mapper.get_chunk(12, 0)).to eq("")
    chunk = mapper.get_chunk(0, 3)
    expect(chunk.encoding).to eq(Encoding::BINARY)
    expect(chunk).not_to be_frozen
    chunk << "x"
    expect(mapper.get_chunk(0, 3)).to eq("hel")
  end

  it "reads binary content unchanged, across a large file" do
    data = Random.new(42).bytes(300_000)
    m = EventMachine::FastFileReader::Mapper.new(file("rand.bin", data))
    expect(m.get_chunk(0, data.bytesize)).to eq(data)
    expect(m.get_chunk(123_456, 65_536)).to eq(data.byteslice(123_456, 65_536))
    expect(m.get_chunk(data.bytesize - 1, 1)).to eq(data.byteslice(-1, 1))
    m.close
  end

  it "a range past the end raises StandardError 'Mapper Range Error'" do
    [[0, 13], [11, 2], [12, 1], [13, 0]].each do |offset, length|
      expect { mapper.get_chunk(offset, length) }.to raise_error(StandardError, "Mapper Range Error"), [offset, length].inspect
    end
  end

  it "offsets and lengths are C ints: non-integers are a TypeError, huge ones a RangeError, floats truncate" do
    expect { mapper.get_chunk("0", 1) }.to raise_error(TypeError)
    expect { mapper.get_chunk(nil, 1) }.to raise_error(TypeError)
    expect { mapper.get_chunk(2**40, 1) }.to raise_error(RangeError)
    expect { mapper.get_chunk(0, 2**32 + 1) }.to raise_error(RangeError)
    expect(mapper.get_chunk(1.5, 2)).to eq("el")
    expect { mapper.get_chunk(0) }.to raise_error(ArgumentError)
  end

  it "the path must be a String" do
    expect { EventMachine::FastFileReader::Mapper.new(nil) }.to raise_error(TypeError)
    expect { EventMachine::FastFileReader::Mapper.new(1) }.to raise_error(TypeError)
    expect { EventMachine::FastFileReader::Mapper.new }.to raise_error(ArgumentError)
  end

  it "close returns nil and may be repeated; size stays, get_chunk raises 'No Mapper Chunk'" do
    expect(mapper.close).to be_nil
    expect(mapper.close).to be_nil
    expect(mapper.size).to eq(12)
    expect { mapper.get_chunk(0, 5) }.to raise_error(StandardError, "No Mapper Chunk")
  end

  it "sees the file's current bytes within the size it had when opened" do
    p = file("mut.txt", "abcdef")
    m = EventMachine::FastFileReader::Mapper.new(p)
    File.binwrite(p, "ABCDEFGH")
    expect(m.size).to eq(6)
    expect(m.get_chunk(0, 6)).to eq("ABCDEF")
    m.close
  end

  it "a subclass works" do
    sub = Class.new(EventMachine::FastFileReader::Mapper)
    m = sub.new(path)
    expect(m.get_chunk(0, 5)).to eq("hello")
    m.close
  end

  describe "where EventMachine aborts the process", em_rust_only: "EventMachine's C++ aborts (missing file, directory, empty file) or segfaults (negative offset)" do
    it "a missing file raises Errno::ENOENT" do
      expect { EventMachine::FastFileReader::Mapper.new(File.join(@dir, "nope")) }.to raise_error(Errno::ENOENT)
    end

    it "a directory raises Errno::EISDIR" do
      expect { EventMachine::FastFileReader::Mapper.new(@dir) }.to raise_error(Errno::EISDIR)
    end

    it "an unreadable file raises Errno::EACCES", skip: (Process.uid.zero? ? "root can read any file" : false) do
      p = file("secret", "x")
      File.chmod(0o000, p)
      expect { EventMachine::FastFileReader::Mapper.new(p) }.to raise_error(Errno::EACCES)
    end

    it "an empty file has size 0 and only the empty chunk" do
      m = EventMachine::FastFileReader::Mapper.new(file("empty", ""))
      expect(m.size).to eq(0)
      expect(m.get_chunk(0, 0)).to eq("")
      expect { m.get_chunk(0, 1) }.to raise_error(StandardError, "Mapper Range Error")
      m.close
    end

    it "a negative offset or length raises 'Mapper Range Error'" do
      expect { mapper.get_chunk(-1, 1) }.to raise_error(StandardError, "Mapper Range Error")
      expect { mapper.get_chunk(0, -1) }.to raise_error(StandardError, "Mapper Range Error")
    end

    it "a file that shrank since opening gives what is left of the range" do
      p = file("shrink", "abcdef")
      m = EventMachine::FastFileReader::Mapper.new(p)
      File.binwrite(p, "ab")
      expect(m.get_chunk(0, 6)).to eq("ab")
      expect(m.get_chunk(4, 2)).to eq("")
      m.close
    end
  end

  describe "em_rust's additions", em_rust_only: "EventMachine has no FastFileReader.read or ::Map" do
    it "FastFileReader.read(path) returns the whole file, binary" do
      data = Random.new(7).bytes(70_000)
      expect(EventMachine::FastFileReader.read(file("whole.bin", data))).to eq(data)
      expect(EventMachine::FastFileReader.read(path).encoding).to eq(Encoding::BINARY)
      expect(EventMachine::FastFileReader.read(file("empty", ""))).to eq("")
      expect { EventMachine::FastFileReader.read(File.join(@dir, "nope")) }.to raise_error(Errno::ENOENT)
    end

    it "FastFileReader::Map is Mapper" do
      expect(EventMachine::FastFileReader::Map).to equal(EventMachine::FastFileReader::Mapper)
      m = EventMachine::FastFileReader::Map.new(path)
      expect([m.size, m.get_chunk(6, 5)]).to eq([12, "world"])
      m.close
    end

    it "read does not leak descriptors" do
      before = Dir.children("/proc/self/fd").size
      50.times { EventMachine::FastFileReader.read(path) }
      expect(Dir.children("/proc/self/fd").size).to be <= before + 1
    end
  end
end
