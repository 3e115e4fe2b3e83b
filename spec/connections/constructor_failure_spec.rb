# frozen_string_literal: true
require "spec_helper"

# Every kind of Connection is built the same way; when its initialize or post_init
# raises, the descriptor is closed and forgotten and the error reaches the caller.
RSpec.describe "a Connection whose post_init raises",
               em_rust_only: "EM leaves the descriptor open and registered when initialize or post_init raises" do
  let(:failing) { Module.new { def post_init = raise(ArgumentError, "post_init failed") } }

  # Runs `open` (given the failing handler) in a reactor; returns the error it
  # raised and the connection count before and after.
  def open_failing(&open)
    result = {}
    run_em do
      before = EM.connection_count
      begin
        open.call(failing)
      rescue ArgumentError => e
        result[:error] = e.message
      end
      EM.next_tick do
        result[:counts] = [before, EM.connection_count, EM.instance_variable_get(:@conns).size]
        EM.stop
      end
    end
    result
  end

  def expect_cleaned_up(result)
    expect(result[:error]).to eq("post_init failed")
    before, after, = result[:counts]
    expect(after).to eq(before)
  end

  it "EM.connect" do
    result = open_failing { |h| EM.connect("127.0.0.1", refused_port, h) }
    expect_cleaned_up(result)
  end

  it "EM.attach" do
    rd, wr = IO.pipe
    held_sockets << rd << wr
    expect_cleaned_up(open_failing { |h| EM.attach(rd, h) })
  end

  it "EM.watch" do
    rd, wr = IO.pipe
    held_sockets << rd << wr
    expect_cleaned_up(open_failing { |h| EM.watch(rd, h) })
  end

  it "EM.popen" do
    expect_cleaned_up(open_failing { |h| EM.popen("cat", h) })
  end

  it "EM.watch_file" do
    path = File.join(tmpdir, "watched")
    File.write(path, "x")
    expect_cleaned_up(open_failing { |h| EM.watch_file(path, h) })
  end

  it "EM.watch_process" do
    pid = Process.spawn("sleep", "5")
    begin
      expect_cleaned_up(open_failing { |h| EM.watch_process(pid, h) })
    ensure
      Process.kill("KILL", pid)
      Process.wait(pid)
    end
  end

  it "an accepted connection: the error ends EM.run and the client is closed" do
    got = nil
    expect do
      EM.run do
        EM.add_timer(bound(5)) { EM.stop }
        _, port = start_server_on_free_port(failing)
        client = Module.new { define_method(:unbind) { got = :closed } }
        EM.connect("127.0.0.1", port, client)
      end
    end.to raise_error(ArgumentError, "post_init failed")
    expect(got).to eq(:closed)
    expect(EM.instance_variable_get(:@conns)).to be_empty
  end
end
