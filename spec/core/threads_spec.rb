# frozen_string_literal: true
require "spec_helper"

# An idle reactor (no timers, nothing ready) would sleep forever unless a call
# from another thread wakes it. Each measurement is the time from the call in
# the other thread to its effect on the reactor; the median of 5 must be under
# 50 ms (a missing wakeup shows up as seconds, or as the example's time limit).
RSpec.describe "other Ruby threads and the reactor" do
  def wake_limit = bound(0.05)

  # Starts EM.run (with `setup` in the run block), lets it go idle, then calls
  # `poke` from another thread; `poke` receives a proc to call when its effect
  # is seen on the reactor. Returns seconds from the call to the effect.
  def wake_latency(setup: nil, &poke)
    latency = nil
    EM.run do
      setup&.call
      Thread.new do
        sleep 0.05 # let the reactor go idle
        t0 = now
        poke.call(-> { latency = now - t0 })
      end
    end
    latency
  end

  describe "wake an idle loop quickly" do
    it "EM.next_tick" do
      latency = median_of(5) { wake_latency { |seen| EM.next_tick { seen.call; EM.stop } } }
      expect(latency).to be < wake_limit
    end

    it "EM.schedule" do
      latency = median_of(5) { wake_latency { |seen| EM.schedule { seen.call; EM.stop } } }
      expect(latency).to be < wake_limit
    end

    it "EM.stop (EM.run returns)" do
      latencies = Array.new(5) do
        t0 = nil
        EM.run { Thread.new { sleep 0.05; t0 = now; EM.stop } }
        now - t0
      end
      expect(median(latencies)).to be < wake_limit
    end

    it "EM.next_tick while a far-off timer is pending" do
      latency = median_of(5) do
        wake_latency(setup: -> { EM.add_timer(30) {} }) { |seen| EM.next_tick { seen.call; EM.stop } }
      end
      expect(latency).to be < wake_limit
    end

    it "send_data on a connection", em_rust_only: "EM's send_data is not safe from another thread" do
      client = nil
      seen_at = nil
      setup = lambda do
        server = Module.new { define_method(:receive_data) { |_| seen_at&.call; EM.stop } }
        sig = EM.start_server("127.0.0.1", 0, server)
        client = EM.connect("127.0.0.1", Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0])
      end
      latency = median_of(5) do
        wake_latency(setup: setup) do |seen|
          seen_at = seen
          client.send_data("from another thread")
        end
      end
      expect(latency).to be < wake_limit
    end

    it "large send_data from several threads at once: every byte arrives, each send whole", em_rust_only: "EM's send_data is not safe from another thread" do
      chunks = Array.new(8) { |i| (i.to_s * (100 << 10)).b } # held, not copied (16 KiB or more)
      got = nil
      run_em(20) do
        sig = EM.start_server("127.0.0.1", 0, ConnectionHelpers::Collector, ->(data, _) { got = data; EM.stop })
        client = EM.connect("127.0.0.1", Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0])
        threads = chunks.map { |c| Thread.new { client.send_data(c.dup) } }
        EM.defer(proc { threads.each(&:join) }, proc { client.close_connection_after_writing })
      end
      expect(got.bytesize).to eq(chunks.sum(&:bytesize))
      expect(got.squeeze.chars.sort).to eq(chunks.map { |c| c[0] }.sort) # one unbroken run per send
    end

    it "a defer completion" do
      latencies = Array.new(5) do
        t0 = nil
        took = nil
        EM.run do
          EM.defer(proc { sleep 0.05; t0 = now; :done }, proc { took = now - t0; EM.stop })
        end
        took
      end
      expect(median(latencies)).to be < wake_limit
    end
  end

  describe "while EM.run waits" do
    it "a sleeping thread keeps running" do
      count = 0
      counter = Thread.new { loop { count += 1; sleep 0.005 } }
      begin
        EM.run { EM.add_timer(0.3) { EM.stop } }
      ensure
        counter.kill
        counter.join
      end
      expect(count).to be >= 10
    end

    it "a busy thread keeps running (the wait does not hold the GVL)" do
      count = 0
      counter = Thread.new { loop { count += 1 } }
      before = nil
      after = nil
      begin
        EM.run do
          EM.add_timer(0.05) { before = count }
          EM.add_timer(0.35) { after = count; EM.stop }
        end
      ensure
        counter.kill
        counter.join
      end
      expect(after - before).to be > 1000
    end

    it "a thread blocked on a Queue gets what the reactor pushes" do
      q = Queue.new
      got = nil
      consumer = Thread.new { got = q.pop }
      EM.run { EM.add_timer(0.02) { q << :item; EM.add_timer(0.02) { EM.stop } } }
      consumer.join(bound(2))
      expect(got).to eq(:item)
    end
  end

  describe "EM.run in a background thread" do
    it "is driven from the main thread with next_tick and stopped from there" do
      results = Queue.new
      th = Thread.new { EM.run }
      deadline = now + bound(3)
      sleep 0.005 until EM.reactor_running? || now > deadline
      expect(EM.reactor_running?).to be(true)

      EM.next_tick { results << [:tick, EM.reactor_thread?] }
      EM.schedule { EM.add_timer(0.01) { results << [:timer, EM.reactor_thread?] } }
      expect(results.pop).to eq([:tick, true])
      expect(results.pop).to eq([:timer, true])

      EM.stop
      expect(th.join(bound(3))).to be(th)
      expect(EM.reactor_running?).to be(false)
    end
  end
end
