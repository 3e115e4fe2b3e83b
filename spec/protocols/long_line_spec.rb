# frozen_string_literal: true
require "spec_helper"

# A 16 MiB line arriving in 8 KiB reads costs its length once, not its length per
# read: every line-based protocol buffers in amortised linear time.
RSpec.describe "line protocols on one long line", timeout: 60 do
  PIECE = ("x" * 8192).b.freeze
  PIECES = 2048 # 16 MiB

  def cpu = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)

  # Feeds the line to `conn` in pieces, then the delimiter; returns [CPU s, line size].
  def feed(conn)
    t0 = cpu
    PIECES.times { conn.receive_data(PIECE.dup) }
    conn.receive_data("\n")
    [cpu - t0, conn.got]
  end

  def connection(klass) = klass.allocate.tap { |c| c.__send__(:initialize) }

  def recorder(base = EM::Connection, mod = nil)
    Class.new(base) do
      include mod if mod
      attr_reader :got

      define_method(:receive_line) { |line| @got = line.bytesize }
    end
  end

  {
    "LineText2" => [-> { [EM::Connection, EM::Protocols::LineText2] }, {}],
    "LineProtocol" => [-> { [EM::Connection, EM::Protocols::LineProtocol] },
                       { em_rust_only: "EM's LineProtocol re-splits its whole buffer on every read (quadratic)" }],
    "LineAndTextProtocol" => [-> { [EM::Protocols::LineAndTextProtocol, nil] }, {}]
  }.each do |name, (parts, tags)|
    it "#{name}: delivered intact in under 0.2 s of CPU", **tags do
      took, size = feed(connection(recorder(*parts.call)))
      expect(size).to eq(PIECES * PIECE.bytesize)
      expect(took).to be < bound(0.2)
    end
  end

  it "BufferedTokenizer: one token in under 0.2 s of CPU" do
    tok = BufferedTokenizer.new("\n")
    t0 = cpu
    PIECES.times { expect(tok.extract(PIECE.dup)).to be_empty }
    tokens = tok.extract("\n")
    expect(cpu - t0).to be < bound(0.2)
    expect(tokens.map(&:bytesize)).to eq([PIECES * PIECE.bytesize])
  end

  # Positions in a UTF-8 String cost a scan from its start; the line mode
  # works in bytes, so text that is not binary is as cheap as socket data.
  it "LineText2: a 16 MiB UTF-8 line in UTF-8 reads in under 0.2 s of CPU" do
    conn = connection(recorder(EM::Connection, EM::Protocols::LineText2))
    piece = ("\u00e9" * 4096).encode("UTF-8").freeze
    t0 = cpu
    PIECES.times { conn.receive_data(piece.dup) }
    conn.receive_data("\n")
    expect(cpu - t0).to be < bound(0.2)
    expect(conn.got).to eq(PIECES * piece.bytesize)
  end

  it "the caller's Strings are never modified" do
    conn = connection(recorder(EM::Connection, EM::Protocols::LineText2))
    first = +"abc"
    conn.receive_data(first)
    conn.receive_data("def\n")
    expect(first).to eq("abc")
  end
end
