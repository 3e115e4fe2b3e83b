# frozen_string_literal: true

RSpec.describe EventMachine::Protocols::LineText2 do
  # A bare object with LineText2 mixed in, recording its callbacks; +hook+
  # runs after each event so an example can switch modes mid-stream.
  let(:recorder_class) do
    Class.new do
      include EM::P::LineText2
      attr_reader :events
      attr_accessor :hook

      def initialize
        @events = []
        @hook = nil
      end

      def receive_line(line) = record(:line, line)
      def receive_binary_data(data) = record(:binary, data)
      def receive_end_of_binary_data = record(:end)

      def record(*event)
        @events << event
        hook&.call(self, event)
      end
    end
  end
  let(:lt) { recorder_class.new }

  describe "line mode" do
    it "delivers \"\\n\"-terminated lines without their line ends (\"\\r\\n\" too)" do
      lt.receive_data("one\ntwo\r\nthr")
      lt.receive_data("ee\n")
      expect(lt.events).to eq([[:line, "one"], [:line, "two"], [:line, "three"]])
    end

    it "delivers empty lines" do
      lt.receive_data("\n\r\nx\n")
      expect(lt.events).to eq([[:line, ""], [:line, ""], [:line, "x"]])
    end

    it "ignores nil and empty data" do
      lt.receive_data(nil)
      lt.receive_data("")
      expect(lt.events).to eq([])
    end

    it "uses a String delimiter set with set_delimiter, without chomping" do
      lt.set_delimiter("||")
      lt.receive_data("a\r||b||c")
      expect(lt.events).to eq([[:line, "a\r"], [:line, "b"]])
    end

    it "converts a non-String delimiter with to_s" do
      lt.set_delimiter(0)
      lt.receive_data("a0b0")
      expect(lt.events).to eq([[:line, "a"], [:line, "b"]])
    end

    it "accepts a Regexp delimiter" do
      lt.set_delimiter(/[;,]/)
      lt.receive_data("a;b,c;")
      expect(lt.events).to eq([[:line, "a"], [:line, "b"], [:line, "c"]])
    end

    it "lets a callback change the delimiter for the rest of the data" do
      lt.hook = ->(c, ev) { c.set_delimiter("\0") if ev == [:line, "HDR"] }
      lt.receive_data("HDR\nbody one\0next\0")
      expect(lt.events).to eq([[:line, "HDR"], [:line, "body one"], [:line, "next"]])
    end

    it "finds a multi-byte delimiter that arrives split across reads" do
      only_em_rust_code(described_class, "EM 1.3 only looks for the delimiter in the newest read")
      lt.set_delimiter("\r\n")
      lt.receive_data("abc\r")
      lt.receive_data("\ndef\r")
      lt.receive_data("\n")
      expect(lt.events).to eq([[:line, "abc"], [:line, "def"]])
    end

    it "finds a Regexp delimiter that arrives split across reads" do
      only_em_rust_code(described_class, "EM 1.3 only looks for the delimiter in the newest read")
      lt.set_delimiter(/\r?\n\.\r?\n/)
      lt.receive_data("one\r\n.")
      lt.receive_data("\r\ntwo\n.\n")
      expect(lt.events).to eq([[:line, "one"], [:line, "two"]])
    end
  end

  describe "text mode" do
    it "set_text_mode with a negative size raises ArgumentError saying what it takes" do
      only_em_rust_code(described_class, "EM's LineText2 raises TypeError from deep inside receive_data later")
      expect { lt.set_text_mode(-5) }.to raise_error(ArgumentError, /byte count >= 0/)
    end

    it "delivers a sized block in one call, then the end marker, then goes back to lines" do
      lt.hook = ->(c, ev) { c.set_text_mode(5) if ev == [:line, "len"] }
      lt.receive_data("len\nab")
      lt.receive_data("cdeafter\n")
      expect(lt.events).to eq([[:line, "len"], [:binary, "abcde"], [:end], [:line, "after"]])
    end

    it "switches back to line mode before receive_binary_data, so blocks can be chained" do
      sizes = [2, 3]
      lt.hook = lambda do |c, ev|
        next unless ev.first == :binary || ev == [:line, "go"]

        size = sizes.shift
        c.set_text_mode(size) if size
      end
      lt.receive_data("go\nAABBBtail\n")
      expect(lt.events).to eq([[:line, "go"], [:binary, "AA"], [:end], [:binary, "BBB"], [:end], [:line, "tail"]])
    end

    it "passes every piece straight through in unsized text mode" do
      lt.set_text_mode
      lt.receive_data("ab\ncd")
      lt.receive_data("\nef")
      expect(lt.events).to eq([[:binary, "ab\ncd"], [:binary, "\nef"]])
    end

    it "treats set_text_mode(0) as line mode" do
      lt.set_text_mode(0)
      lt.receive_data("x\n")
      expect(lt.events).to eq([[:line, "x"]])
    end

    it "set_binary_mode is set_text_mode" do
      lt.set_binary_mode(3)
      lt.receive_data("abcd\n")
      expect(lt.events).to eq([[:binary, "abc"], [:end], [:line, "d"]])
    end

    it "set_line_mode frames the data it is given before the rest of the input" do
      lt.set_text_mode
      lt.hook = lambda do |c, ev|
        c.set_line_mode("thrown\nback ") if ev == [:binary, "raw"]
      end
      lt.receive_data("raw")
      lt.receive_data("more\n")
      expect(lt.events).to eq([[:binary, "raw"], [:line, "thrown"], [:line, "back more"]])
    end

    it "hands a sized block cut short by unbind to receive_binary_data" do
      lt.set_text_mode(10)
      lt.receive_data("abc")
      lt.unbind
      expect(lt.events).to eq([[:binary, "abc"]])
    end

    it "unbind delivers nothing in line mode or with nothing received" do
      lt.receive_data("partial")
      lt.unbind
      lt.set_text_mode(4)
      lt.unbind
      expect(lt.events).to eq([])
    end

    it "keeps binary bytes intact" do
      bytes = (0..255).to_a.pack("C*")
      lt.set_text_mode(256)
      lt.receive_data(bytes[0, 77])
      lt.receive_data(bytes[77..-1])
      expect(lt.events.first).to eq([:binary, bytes])
    end
  end

  describe "line length limit" do
    before { only_em_rust_code(described_class, "EM does not enforce a line length") }

    it "calls receive_error and closes when a line passes the limit" do
      lt.instance_eval do
        def receive_error(why) = record(:error, why)
        def close_connection(*) = record(:closed)
      end
      lt.set_max_line_length(4)
      lt.receive_data("abcd\nabcde")
      lt.receive_data("f\nnext\n")
      expect(lt.events).to eq([[:line, "abcd"], [:closed], [:error, "overlength line"]])
    end

    it "raises without receive_error" do
      lt.set_max_line_length(2)
      expect { lt.receive_data("abc\n") }.to raise_error(RuntimeError, "overlength line")
    end
  end

  describe "over a connection" do
    let(:server_class) do
      Class.new(EM::Connection) do
        include EM::P::LineText2
        def receive_line(line)
          if (m = /\Ablock (\d+)\z/.match(line))
            set_text_mode(m[1].to_i)
          else
            send_data("line:#{line}\n")
          end
        end

        def receive_binary_data(data) = send_data("block:#{data.encoding}:#{data.bytesize}:#{data}\n")
      end
    end

    it "frames lines and blocks sent in arbitrary pieces" do
      replies = +""
      run_em do
        port = em_server(server_class)
        client = Module.new do
          define_method(:receive_data) do |data|
            replies << data
            EM.stop if replies.count("\n") == 5
          end
        end
        c = EM.connect("127.0.0.1", port, client)
        "hello\r\nblock 7\nab\ncdefgoodbye\n\n".each_char.each_slice(3) do |piece|
          c.send_data(piece.join)
        end
      end
      expect(replies).to eq("line:hello\nblock:ASCII-8BIT:7:ab\ncdef\nline:goodbye\nline:\n")
    end
  end
end
