# frozen_string_literal: true
require "spec_helper"
require "socket"

RSpec.describe "EM.stats", em_rust_only: "EventMachine has no EM.stats" do
  it "outside EM.run says the reactor is not running and reports the defer pool" do
    expect(EM.stats).to eq(running: false, defer_queue: 0, defers_pending: 0)
  end

  it "counts turns, busy and waiting time, and pending timers" do
    seen = []
    run_em do
      EM.add_timer(60) {}
      ticks = 0
      EM.add_periodic_timer(0.01) do
        seen << EM.stats
        EM.stop if (ticks += 1) == 3
      end
    end
    first, last = seen.first, seen.last
    expect(last.keys).to include(:turns, :busy_seconds, :wait_seconds, :loop_lag_seconds,
                                 :current_turn_seconds, :timers, :descriptors, :outbound_bytes)
    expect(last[:running]).to be(true)
    expect(last[:turns]).to be > first[:turns]
    expect(last[:wait_seconds]).to be > first[:wait_seconds]
    expect(last[:busy_seconds]).to be >= first[:busy_seconds]
    expect(last[:current_turn_seconds]).to be >= 0
    expect(last[:timers]).to be >= 1 # the 60 s one (the periodic one is re-armed after its callback)
  end

  it "shows a callback that blocked the loop as loop lag", blocks_the_loop: "sleeps in a callback on purpose" do
    lag = nil
    run_em do
      EM.add_timer(0.01) { sleep 0.1 }
      EM.add_timer(0.2) { lag = EM.stats[:loop_lag_seconds]; EM.stop }
    end
    expect(lag).to be >= 0.1
  end

  it "counts open descriptors by kind and the bytes queued to go out" do
    seen = nil
    run_em do
      EM.start_server("127.0.0.1", 0, Module.new)
      EM.open_datagram_socket("127.0.0.1", 0)
      reader, writer = IO.pipe
      EM.watch(reader, Module.new)
      listener = TCPServer.new("127.0.0.1", 0)
      client = EM.connect("127.0.0.1", listener.addr[1], Module.new)
      client.pause # nothing goes out while paused: the bytes stay queued
      client.send_data("x" * 1000)
      EM.next_tick do
        seen = EM.stats
        [reader, writer, listener].each(&:close)
        EM.stop
      end
    end
    expect(seen[:descriptors]).to eq(stream: 1, acceptor: 1, datagram: 1, watch: 1, other: 0)
    expect(seen[:outbound_bytes]).to eq(1000)
  end

  it "reports the defer queue depth and the defers pending" do
    seen = nil
    gate = Queue.new
    run_em do
      EM.threadpool_size = 1
      EM.defer { gate.pop }
      3.times { EM.defer { 1 } }
      EM.add_timer(0.05) do
        seen = EM.stats
        gate << :go
        EM.add_periodic_timer(0.01) { EM.stop if EM.defers_finished? }
      end
    end
    expect(seen[:defer_queue]).to eq(3)
    expect(seen[:defers_pending]).to eq(4)
  ensure
    EM.threadpool_size = 20
  end

  it "answers from another thread while the loop waits" do
    seen = nil
    run_em do
      EM.add_timer(60) {}
      Thread.new do
        sleep 0.05
        seen = EM.stats
        EM.stop
      end
    end
    expect(seen[:running]).to be(true)
    expect(seen[:current_turn_seconds]).to eq(0)
  end
end
