# frozen_string_literal: true
require "spec_helper"

# Deferrable#wait in a scheduled fiber: the fiber waits for the outcome, the loop
# does not.
RSpec.describe "EM::Deferrable#wait", em_rust_only: "EventMachine has no fiber scheduler" do
  # Runs the block in EM.fiber; returns its value or the exception it raised.
  def in_fiber(limit = 5)
    outcome = nil
    run_em(limit) do
      EM.fiber do
        outcome = yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        outcome = e
      ensure
        EM.stop
      end
    end
    outcome
  end

  def later(seconds = 0.02, &blk) = EM.add_timer(seconds, &blk)

  it "returns the callback's value, or an Array of several" do
    expect(in_fiber { EM::DefaultDeferrable.new.tap { |d| later { d.succeed(:one) } }.wait }).to eq(:one)
    expect(in_fiber { EM::DefaultDeferrable.new.tap { |d| later { d.succeed(1, 2) } }.wait }).to eq([1, 2])
    expect(in_fiber { EM::DefaultDeferrable.new.tap { |d| later { d.succeed } }.wait }).to be_nil
  end

  it "returns at once for a deferrable that already succeeded" do
    expect(in_fiber { EM::DefaultDeferrable.new.tap { |d| d.succeed(:done) }.wait }).to eq(:done)
  end

  it "raises the errback's value when it is an Exception" do
    err = IOError.new("lost")
    expect(in_fiber { EM::DefaultDeferrable.new.tap { |d| later { d.fail(err) } }.wait }).to be(err)
  end

  it "raises EM::DeferrableFailure carrying other failure values" do
    got = in_fiber { EM::DefaultDeferrable.new.tap { |d| later { d.fail(:refused, 42) } }.wait }
    expect(got).to be_a(EM::DeferrableFailure)
    expect(got.values).to eq([:refused, 42])
    expect(got.message).to include(":refused")
  end

  it "with a timeout raises Timeout::Error and leaves the deferrable alone" do
    d = EM::DefaultDeferrable.new
    later_value = nil
    got = nil
    run_em do
      d.callback { |v| later_value = v }
      EM.fiber do
        got = begin
          d.wait(0.05)
        rescue Timeout::Error => e
          e
        end
      end
      EM.add_timer(0.1) { d.succeed(:late) }
      EM.add_timer(0.15) { EM.stop }
    end
    expect(got).to be_a(Timeout::Error)
    expect(later_value).to eq(:late)
    expect(d.instance_variable_get(:@callbacks)).to be_empty
  end

  it "on a blocking fiber (the root fiber) raises a FiberError that says why" do
    d = EM::DefaultDeferrable.new
    expect { run_em { EM.next_tick { EM.stop }; Fiber.new(blocking: true) { d.wait }.resume } }
      .to raise_error(FiberError, /non-blocking fiber.*root fiber/)
    expect { d.wait }.to raise_error(FiberError, /non-blocking fiber/)
  end

  it "on a plain Fiber.new (a fiber EM's scheduler did not start) raises a FiberError instead of freezing the reactor" do
    d = EM::DefaultDeferrable.new
    expect { run_em { EM.next_tick { EM.stop }; Fiber.new { d.wait }.resume } }
      .to raise_error(FiberError, /did not start/)
  end

  it "EM::Completion is awaitable" do
    expect(in_fiber { EM::Completion.new.tap { |c| later { c.succeed(:completed) } }.wait }).to eq(:completed)
  end

  it "EM.defer_deferrable: a defer's result, or its exception, awaited" do
    expect(in_fiber { EM.defer_deferrable { sleep 0.02; 6 * 7 }.wait }).to eq(42)
    got = in_fiber { EM.defer_deferrable { raise ArgumentError, "in the pool" }.wait }
    expect(got).to be_a(ArgumentError)
    expect(got.message).to eq("in the pool")
  end

  it "several fibers wait on one deferrable and all get the value" do
    d = EM::DefaultDeferrable.new
    got = []
    run_em do
      3.times { EM.fiber { got << d.wait } }
      EM.add_timer(0.02) { d.succeed(:shared) }
      EM.add_timer(0.05) { EM.stop }
    end
    expect(got).to eq(%i[shared shared shared])
  end

  it "em-http-request's client is awaitable (a real gem, against an EM server)", :integration do
    use_gems(:em_http)
    got = in_fiber do
      sig = EM.start_server("127.0.0.1", 0, Module.new do
        def receive_data(_data)
          send_data("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
          close_connection_after_writing
        end
      end)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first
      http = EM::HttpRequest.new("http://127.0.0.1:#{port}/").get.wait
      [http.response_header.status, http.response]
    end
    expect(got).to eq([200, "ok"])
  end
end
