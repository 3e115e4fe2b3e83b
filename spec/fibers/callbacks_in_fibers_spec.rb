# frozen_string_literal: true
require "spec_helper"
require "socket"

# EM.callbacks_in_fibers = true: every callback runs in a fiber, so a blocking
# call in it suspends that callback, not the loop; one connection's callbacks
# stay in order.
RSpec.describe "EM.callbacks_in_fibers", em_rust_only: "EventMachine has no fiber scheduler" do
  around do |example|
    next example.run unless EM.respond_to?(:callbacks_in_fibers=) # skipped there: em_rust_only

    was = EM.callbacks_in_fibers?
    EM.callbacks_in_fibers = true
    example.run
  ensure
    EM.callbacks_in_fibers = was
    EM.error_handler(nil)
  end

  def port_of(sig) = Socket.unpack_sockaddr_in(EM.get_sockname(sig)).first

  # A server whose receive_data sleeps for lines starting with "slow".
  def sleepy_server(log)
    Module.new do
      define_method(:post_init) { log << [:post_init] }
      define_method(:receive_data) do |data|
        data.each_line do |line|
          log << [:start, line.strip]
          sleep 0.1 if line.start_with?("slow")
          log << [:end, line.strip]
        end
      end
      define_method(:unbind) { log << [:unbind] }
    end
  end

  it "is false by default, settable before and inside EM.run" do
    EM.callbacks_in_fibers = false
    expect(EM.callbacks_in_fibers?).to be(false)
    inside = []
    run_em do
      inside << Fiber.current.blocking?
      EM.callbacks_in_fibers = true
      EM.next_tick do
        inside << Fiber.current.blocking?
        EM.stop
      end
    end
    expect(inside).to eq([true, false])
  end

  it "a sleeping timer callback does not hold up the other timers" do
    ticks = 0
    slept_at = nil
    run_em do
      EM.add_periodic_timer(0.01) { ticks += 1 }
      EM.add_timer(0.01) do
        sleep 0.2
        slept_at = ticks
        EM.stop
      end
    end
    expect(slept_at).to be >= 10
  end

  it "one connection's callbacks stay in order while another connection goes on" do
    log_a = []
    log_b = []
    run_em do
      sig_a = EM.start_server("127.0.0.1", 0, sleepy_server(log_a))
      sig_b = EM.start_server("127.0.0.1", 0, sleepy_server(log_b))
      EM.connect("127.0.0.1", port_of(sig_a)) do |c|
        c.send_data("slow 1\n")
        EM.add_timer(0.02) { c.send_data("fast 2\n") }
        EM.add_timer(0.04) { c.close_connection_after_writing }
      end
      EM.add_timer(0.03) do
        EM.connect("127.0.0.1", port_of(sig_b)) do |c|
          c.send_data("fast b\n")
          c.close_connection_after_writing
        end
      end
      EM.add_timer(0.5) { EM.stop }
    end
    expect(log_a).to eq([[:post_init], [:start, "slow 1"], [:end, "slow 1"], [:start, "fast 2"], [:end, "fast 2"], [:unbind]])
    expect(log_b).to eq([[:post_init], [:start, "fast b"], [:end, "fast b"], [:unbind]])
  end

  it "a blocking socket read in receive_data talks to a server on the same reactor" do
    got = nil
    run_em do
      backend = EM.start_server("127.0.0.1", 0, Module.new do
        def receive_data(data) = send_data("backend says #{data}")
      end)
      backend_port = port_of(backend)
      front = EM.start_server("127.0.0.1", 0, Module.new.tap do |m|
        m.define_method(:receive_data) do |data|
          s = TCPSocket.new("127.0.0.1", backend_port)
          s.write(data)
          send_data(s.readpartial(100))
          s.close
        end
      end)
      EM.connect("127.0.0.1", port_of(front), Module.new.tap do |m|
        m.define_method(:connection_completed) { send_data("hi") }
        m.define_method(:receive_data) { |d| got = d; EM.stop }
      end)
    end
    expect(got).to eq("backend says hi")
  end

  it "a callback's exception reaches EM.run" do
    expect { run_em { EM.add_timer(0.01) { sleep 0.01; raise ArgumentError, "late" } } }
      .to raise_error(ArgumentError, "late")
    expect { run_em { EM.next_tick { raise ArgumentError, "at once" } } }.to raise_error(ArgumentError, "at once")
  end

  it "a callback's exception goes to error_handler and the connection's later callbacks still run" do
    errors = []
    log = []
    EM.error_handler { |e| errors << e.message }
    run_em do
      server = EM.start_server("127.0.0.1", 0, Module.new.tap do |m|
        m.define_method(:receive_data) do |d|
          sleep 0.01
          log << d
          raise "bad #{d}" if d == "bad"
        end
        m.define_method(:unbind) { log << :unbind }
      end)
      EM.connect("127.0.0.1", port_of(server)) do |c|
        c.send_data("bad")
        EM.add_timer(0.05) { c.send_data("good") }
        EM.add_timer(0.1) { c.close_connection_after_writing }
      end
      EM.add_timer(0.4) { EM.stop }
    end
    expect(errors).to eq(["bad bad"])
    expect(log).to eq(["bad", "good", :unbind])
  end

  it "a throw from a suspended callback passes through EM.run" do
    caught = catch(:out) do
      EM.run { EM.add_timer(0.01) { sleep 0.01; throw :out, :thrown } }
      :not_thrown
    end
    expect(caught).to eq(:thrown)
    expect(EM.reactor_running?).to be(false)
  end

  it "EM.stop with suspended callbacks ends them: ensure runs, no hang, no leak" do
    ensured = 0
    3.times do
      run_em do
        10.times do
          EM.add_timer(0.01) do
            sleep 10
          ensure
            ensured += 1
          end
        end
        EM.add_timer(0.05) { EM.stop }
      end
    end
    expect(ensured).to eq(30)
    expect(Fiber.scheduler).to be_nil
  end

  it "defer callbacks run in fibers too" do
    got = nil
    run_em do
      EM.defer(-> { 21 }, lambda do |v|
        sleep 0.01
        got = [v * 2, Fiber.current.blocking?]
        EM.stop
      end)
    end
    expect(got).to eq([42, false])
  end
end
