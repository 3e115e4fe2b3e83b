# frozen_string_literal: true

RSpec.describe BufferedTokenizer do
  it "splits on \"\\n\" by default and keeps the unterminated rest" do
    tok = described_class.new
    expect(tok.extract("ab\ncd\nef")).to eq(%w[ab cd])
    expect(tok.extract("gh\n")).to eq(["efgh"])
    expect(tok.extract("")).to eq([])
  end

  it "returns an empty token for consecutive delimiters and no trailing one" do
    tok = described_class.new
    expect(tok.extract("a\n\nb\n")).to eq(["a", "", "b"])
    expect(tok.flush).to eq("")
  end

  it "joins a token that arrives in many pieces" do
    tok = described_class.new
    %w[h e l l o].each { |c| expect(tok.extract(c)).to eq([]) }
    expect(tok.extract(" world\n")).to eq(["hello world"])
  end

  it "finds a multi-byte delimiter split across pieces" do
    tok = described_class.new("\r\n")
    expect(tok.extract("ab\r")).to eq([])
    expect(tok.extract("\ncd\r\n\r\nx")).to eq(["ab", "cd", ""])
    expect(tok.flush).to eq("x")
  end

  it "handles overlapping delimiter characters like String#split" do
    tok = described_class.new("aa")
    expect(tok.extract("aaa")).to eq([""])
    expect(tok.extract("a")).to eq([""])
  end

  it "flush returns the held data once and empties the buffer" do
    tok = described_class.new("|")
    tok.extract("x|yz")
    expect(tok.flush).to eq("yz")
    expect(tok.flush).to eq("")
    expect(tok.extract("w|")).to eq(["w"])
  end

  it "passes binary data through byte for byte" do
    tok = described_class.new("\n")
    bytes = (0..255).to_a.pack("C*").delete("\n")
    expect(tok.extract(bytes[0, 100])).to eq([])
    out = tok.extract("#{bytes[100..-1]}\n".b)
    expect(out.map(&:b)).to eq([bytes.b])
  end

  it "gives binary tokens for binary data" do
    only_em_rust_code(described_class, "the first token of real EM's tokenizer is tagged UTF-8")
    tok = described_class.new
    expect(tok.extract("a\nb\n".b).map(&:encoding)).to eq([Encoding::BINARY, Encoding::BINARY])
  end

  describe "size limit" do
    before { only_em_rust_code(described_class, "EventMachine 1.3 dropped the size limit") }

    it "raises 'input buffer full' when the unterminated rest passes the limit" do
      tok = described_class.new("\n", 8)
      expect(tok.extract("12345")).to eq([])
      expect { tok.extract("6789") }.to raise_error(RuntimeError, "input buffer full")
      expect(tok.flush).to eq("") # the overflowing data was dropped
      expect(tok.extract("ok\n")).to eq(["ok"])
    end

    it "raises for a complete token over the limit" do
      tok = described_class.new("\n", 3)
      expect { tok.extract("abcd\n") }.to raise_error(RuntimeError, "input buffer full")
    end

    it "accepts tokens at the limit" do
      tok = described_class.new("\n", 3)
      expect(tok.extract("abc\nxyz")).to eq(["abc"])
    end

    it "loses no valid token completed in the same extract as an oversized one: they come with the error" do
      tok = described_class.new("\n", 3)
      expect { tok.extract("ab\ntoolong\ncd\nef") }.to raise_error(BufferedTokenizer::Overflow, "input buffer full") { |e|
        expect(e.tokens).to eq(%w[ab cd])
      }
      expect(tok.flush).to eq("ef") # the unterminated rest was within the limit: kept
    end

    it "the overflow error is a RuntimeError, as EventMachine's" do
      expect(BufferedTokenizer::Overflow.new([])).to be_a(RuntimeError)
    end
  end
end
