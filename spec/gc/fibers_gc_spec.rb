# frozen_string_literal: true
# The fiber paths under GC.stress (`rake spec:gc_stress`): scheduled fibers that
# sleep, read a pipe, pop a Queue pushed from a thread and wait on a Deferrable;
# callbacks in fibers on a TCP connection; EM.stop ending suspended fibers. Small
# counts: GC.stress makes each step ~100x slower.
require_relative "preload"
require "socket"

RSpec.describe "fibers on the reactor (the GC.stress subset)", :gc_stress,
               em_rust_only: "EventMachine has no fiber scheduler" do
  it "scheduled fibers: sleep, a pipe, a Queue from a thread, a Deferrable, EM.stop" do
    got = []
    ensured = false
    EM.run do
      EM.fiber { sleep 0.001; got << :slept }
      EM.fiber do
        r, w = IO.pipe
        EM.add_timer(0.001) { w.write("x") }
        got << r.readpartial(1)
      end
      EM.fiber do
        q = Queue.new
        Thread.new { q << :queued }
        got << q.pop
      end
      EM.fiber do
        d = EM::DefaultDeferrable.new
        EM.next_tick { d.succeed(:waited) }
        got << d.wait
      end
      EM.fiber do
        sleep 60
      ensure
        ensured = true
      end
      EM.add_periodic_timer(0.01) { EM.stop if got.size == 4 }
    end
    expect(got).to contain_exactly(:slept, "x", :queued, :waited)
    expect(ensured).to be(true)
  end

  it "callbacks in fibers: a connection's receive_data that sleeps, then unbind" do
    log = []
    was = EM.callbacks_in_fibers?
    EM.callbacks_in_fibers = true
    EM.run do
      server = EM.start_server("127.0.0.1", 0, Module.new.tap do |m|
        m.define_method(:receive_data) { |d| sleep 0.001; log << d }
        m.define_method(:unbind) { log << :unbind; EM.stop }
      end)
      port = Socket.unpack_sockaddr_in(EM.get_sockname(server)).first
      EM.connect("127.0.0.1", port) do |c|
        c.send_data("ab")
        c.close_connection_after_writing
      end
    end
    expect(log).to eq(["ab", :unbind])
  ensure
    EM.callbacks_in_fibers = was
  end
end
