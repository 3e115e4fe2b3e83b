# frozen_string_literal: true
require "spec_helper"

# The network here is loopback only, so a connect that never completes is made
# with a listener whose accept queue is full (black_hole_port): the kernel
# drops further SYNs and the connect stays pending.
RSpec.describe "connection timeouts" do
  describe "pending_connect_timeout" do
    it "defaults to 20.0 and reads back what was set (Float); set_pending_connect_timeout and EM.set/get_pending_connect_timeout agree" do
      seen = []
      run_em do
        _, port = start_server_on_free_port
        c = EM.connect("127.0.0.1", port)
        seen << c.pending_connect_timeout
        c.pending_connect_timeout = 3
        seen << c.pending_connect_timeout
        seen << c.set_pending_connect_timeout(2.5) << c.pending_connect_timeout
        seen << EM.set_pending_connect_timeout(c.signature, 4.0) << EM.get_pending_connect_timeout(c.signature)
        EM.stop
      end
      expect(seen).to eq([20.0, 3.0, true, 2.5, true, 4.0])
    end

    it "ends a connect that does not complete with unbind(Errno::ETIMEDOUT), on time" do
      result = nil
      t0 = nil
      client = Class.new(EM::Connection) do
        define_method(:post_init) { self.pending_connect_timeout = 0.5 }
        define_method(:connection_completed) { result = :completed }
        define_method(:unbind) { |reason| result = [reason, CoreHelpers.now - t0]; EM.stop }
      end
      run_em do
        t0 = now
        EM.connect("127.0.0.1", black_hole_port, client)
      end
      reason, took = result
      expect(reason).to be(Errno::ETIMEDOUT)
      expect(took).to be >= 0.4
      expect(took).to be < 0.5 + bound(1.5)
    end

    it "does not fire once the connection is established" do
      log = []
      client = Class.new(EM::Connection) do
        define_method(:post_init) { self.pending_connect_timeout = 0.2 }
        define_method(:connection_completed) { log << :completed }
        define_method(:unbind) { |reason| log << [:unbind, reason] }
      end
      run_em do
        _, port = start_server_on_free_port
        EM.connect("127.0.0.1", port, client)
        EM.add_timer(0.7) { EM.stop }
      end
      expect(log).to eq([:completed, [:unbind, nil]])
    end
  end

  describe "comm_inactivity_timeout" do
    it "defaults to 0.0 (never); setters return true and read back as Floats" do
      seen = []
      run_em do
        _, port = start_server_on_free_port
        c = EM.connect("127.0.0.1", port)
        seen << c.comm_inactivity_timeout
        c.comm_inactivity_timeout = 1.5
        seen << c.comm_inactivity_timeout
        seen << c.set_comm_inactivity_timeout(2) << c.comm_inactivity_timeout
        seen << EM.set_comm_inactivity_timeout(c.signature, 3.0) << EM.get_comm_inactivity_timeout(c.signature)
        EM.stop
      end
      expect(seen).to eq([0.0, 1.5, true, 2.0, true, 3.0])
    end

    it "reads back a value that is not exact in binary to within float precision" do
      value = nil
      run_em do
        _, port = start_server_on_free_port
        c = EM.connect("127.0.0.1", port)
        c.comm_inactivity_timeout = 0.6
        value = c.comm_inactivity_timeout
        EM.stop
      end
      expect(value).to be_within(1e-6).of(0.6)
    end

    it "EM.set_comm_inactivity_timeout takes an Integer", em_rust_only: "real EM segfaults (RFLOAT_VALUE on an Integer)" do
      value = nil
      run_em do
        _, port = start_server_on_free_port
        c = EM.connect("127.0.0.1", port)
        EM.set_comm_inactivity_timeout(c.signature, 2)
        value = EM.get_comm_inactivity_timeout(c.signature)
        EM.stop
      end
      expect(value).to eq(2.0)
    end

    it "closes an idle connection with unbind(Errno::ETIMEDOUT) on the side that set it; the peer gets nil" do
      reasons = {}
      t0 = nil
      server = Class.new(EM::Connection) do
        define_method(:post_init) { self.comm_inactivity_timeout = 0.3 }
        define_method(:unbind) { |r| reasons[:server] = [r, CoreHelpers.now - t0] }
      end
      client = Class.new(EM::Connection) do
        define_method(:unbind) { |r| reasons[:client] = r }
      end
      run_em do
        _, port = start_server_on_free_port(server)
        t0 = now
        EM.connect("127.0.0.1", port, client)
        stop_when(what: "both unbinds") { reasons.size == 2 }
      end
      reason, took = reasons[:server]
      expect(reason).to be(Errno::ETIMEDOUT)
      expect(reasons[:client]).to be_nil
      # Promptly, with the default 2 s heartbeat: EM schedules each check at the timeout.
      expect(took).to be >= 0.2
      expect(took).to be < bound(1.2)
    end

    it "fires a short timeout on time while another connection has a long one" do
      reasons = {}
      t0 = nil
      server = Class.new(EM::Connection)
      client = Class.new(EM::Connection) do
        define_method(:initialize) do |name, secs|
          super()
          @name = name
          self.comm_inactivity_timeout = secs
        end
        define_method(:unbind) { |r| reasons[@name] = [r, CoreHelpers.now - t0] }
      end
      run_em do
        _, port = start_server_on_free_port(server)
        t0 = now
        long = EM.connect("127.0.0.1", port, client, :long, 5)
        EM.add_timer(0.1) { EM.connect("127.0.0.1", port, client, :short, 0.3) }
        stop_when(what: "the short one's unbind") { reasons.key?(:short) }
        EM.add_shutdown_hook { long.close_connection }
      end
      reason, took = reasons[:short]
      expect(reason).to be(Errno::ETIMEDOUT)
      expect(took).to be >= 0.35
      expect(took).to be < bound(1.4)
      expect(reasons[:long]&.first).not_to be(Errno::ETIMEDOUT)
    end

    it "counts from the last activity: traffic keeps the connection open" do
      log = []
      t_last = nil
      server = Class.new(EM::Connection) do
        define_method(:post_init) { self.comm_inactivity_timeout = 0.4 }
        define_method(:receive_data) { |_d| t_last = CoreHelpers.now }
        define_method(:unbind) { |r| log << [r, CoreHelpers.now - t_last] }
      end
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) do
          sends = 0
          timer = EM.add_periodic_timer(0.1) do
            send_data("tick")
            sends += 1
            timer.cancel if sends == 8
          end
        end
      end
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, client)
        EM.add_timer(0.85) { log << :open_after_traffic }
        stop_when(timeout: 4, what: "the inactivity unbind") { log.size == 2 }
      end
      expect(log[0]).to eq(:open_after_traffic)
      reason, idle = log[1]
      expect(reason).to be(Errno::ETIMEDOUT)
      expect(idle).to be >= 0.3
      expect(idle).to be < 0.8 + bound(0.5)
    end

    it "set back to 0 turns it off" do
      log = []
      server = Class.new(EM::Connection) do
        define_method(:post_init) do
          self.comm_inactivity_timeout = 0.2
          self.comm_inactivity_timeout = 0
        end
        define_method(:unbind) { |r| log << r }
      end
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port)
        EM.add_timer(0.6) do
          log << :still_open
          EM.stop
        end
      end
      expect(log).to eq([:still_open, nil])
    end

    it "also works on the client side, and with a shortened heartbeat_interval" do
      result = nil
      t0 = nil
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { self.comm_inactivity_timeout = 0.2 }
        define_method(:unbind) { |r| result = [r, CoreHelpers.now - t0]; EM.heartbeat_interval = 2.0; EM.stop }
      end
      run_em do
        EM.heartbeat_interval = 0.05
        _, port = start_server_on_free_port
        t0 = now
        EM.connect("127.0.0.1", port, client)
      end
      reason, took = result
      expect(reason).to be(Errno::ETIMEDOUT)
      expect(took).to be >= 0.1
      expect(took).to be < bound(1)
    end
  end

  describe "get_idle_time" do
    it "is the seconds since the connection last saw traffic" do
      idle = []
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) do
          EM.add_timer(0.3) do
            idle << get_idle_time << EM.get_idle_time(signature)
            send_data("x")
          end
        end
        define_method(:receive_data) { |_d| idle << get_idle_time; EM.stop }
      end
      run_em do
        _, port = start_server_on_free_port(ConnectionHelpers::Echo)
        EM.connect("127.0.0.1", port, client)
      end
      before_a, before_b, after = idle
      expect(before_a).to be_within(bound(0.25)).of(0.35)
      expect(before_b).to be_within(0.05).of(before_a)
      expect(after).to be < 0.1
    end
  end
end
