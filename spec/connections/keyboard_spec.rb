# frozen_string_literal: true
require "spec_helper"

# EM.open_keyboard reads the process's stdin. Each example runs a child whose
# stdin (fd 0) is replaced by a pipe that the child itself feeds.
RSpec.describe "EM.open_keyboard", timeout: 20 do
  def keyboard_program(body)
    <<~RUBY
      $stdout.sync = true
      rd, wr = IO.pipe
      $stdin.reopen(rd)
      rd.close
      #{body}
    RUBY
  end

  it "returns a Connection that receives what arrives on stdin, as binary Strings, in order" do
    r = run_ruby(keyboard_program(<<~'RUBY'), timeout: bound(10))
      got = +""
      handler = Class.new(EM::Connection) do
        define_method(:initialize) { |*args| puts "initialize #{args.inspect}" }
        define_method(:receive_data) do |d|
          puts "encoding #{d.encoding}" if got.empty?
          got << d
          if got == "line one\nline two\n"
            puts "got #{got.inspect}"
            EM.stop
          end
        end
      end
      EM.run do
        k = EM.open_keyboard(handler, :a) { |c| puts "block #{c.class == handler}" }
        puts "returned #{k.class == handler} #{k.signature.class}"
        wr.write("line one\n")
        EM.add_timer(0.1) { wr.write("line ") }
        EM.add_timer(0.2) { wr.write("two\n") }
        EM.add_timer(8) { puts "timeout #{got.inspect}"; EM.stop }
      end
    RUBY
    expect(r.output).to eq(<<~OUT)
      initialize [:a]
      block true
      returned true Integer
      encoding ASCII-8BIT
      got "line one\\nline two\\n"
    OUT
  end

  it "calls unbind when stdin reaches end of file, and delivers no made-up bytes",
     em_rust_only: "at EOF real EM calls receive_data(\"\\0\") over and over and never unbinds" do
    r = run_ruby(keyboard_program(<<~'RUBY'), timeout: bound(10))
      got = +""
      handler = Class.new(EM::Connection) do
        define_method(:receive_data) { |d| got << d }
        define_method(:unbind) { |*| puts "unbind after #{got.inspect}"; EM.stop }
      end
      EM.run do
        EM.open_keyboard(handler)
        wr.write("last words")
        EM.add_timer(0.1) { wr.close }
        EM.add_timer(5) { puts "timeout #{got.bytesize} bytes"; EM.stop }
      end
    RUBY
    expect(r.output).to eq("unbind after \"last words\"\n")
  end
end
