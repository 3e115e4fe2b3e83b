# frozen_string_literal: true
require "spec_helper"

RSpec.describe "closing and unbind" do
  # A client handler class whose unbind takes `params` and reports to `log`.
  def client_with_unbind(log, params)
    Class.new(EM::Connection) do
      case params
      when :none then define_method(:unbind) { log << [:unbind]; EM.stop }
      when :one then define_method(:unbind) { |reason| log << [:unbind, reason]; EM.stop }
      when :optional then define_method(:unbind) { |reason = :default| log << [:unbind, reason]; EM.stop }
      when :rest then define_method(:unbind) { |*args| log << [:unbind, *args]; EM.stop }
      end
    end
  end

  describe "unbind's reason argument" do
    it "is Errno::ECONNREFUSED for a refused connect when unbind takes an argument" do
      log = []
      run_em { EM.connect("127.0.0.1", refused_port, client_with_unbind(log, :one)) }
      expect(log).to eq([[:unbind, Errno::ECONNREFUSED]])
    end

    it "is passed to an unbind with an optional argument or a splat too" do
      [:optional, :rest].each do |params|
        log = []
        run_em { EM.connect("127.0.0.1", refused_port, client_with_unbind(log, params)) }
        expect(log).to eq([[:unbind, Errno::ECONNREFUSED]])
      end
    end

    it "is not passed when unbind takes no argument" do
      log = []
      run_em { EM.connect("127.0.0.1", refused_port, client_with_unbind(log, :none)) }
      expect(log).to eq([[:unbind]])
    end

    it "is passed to a Module handler's unbind(reason)" do
      log = []
      mod = Module.new { define_method(:unbind) { |reason| log << reason; EM.stop } }
      run_em { EM.connect("127.0.0.1", refused_port, mod) }
      expect(log).to eq([Errno::ECONNREFUSED])
    end

    it "is nil for a normal close, on both ends" do
      reasons = []
      server = Class.new(EM::Connection) { define_method(:unbind) { |r| reasons << [:server, r] } }
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { close_connection }
        define_method(:unbind) { |r| reasons << [:client, r] }
      end
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, client)
        stop_when { reasons.size == 2 }
      end
      expect(reasons).to contain_exactly([:server, nil], [:client, nil])
    end

    it "is Errno::ECONNREFUSED for a refused IPv6 connect" do
      skip_without_ipv6
      log = []
      run_em { EM.connect("::1", refused_port(host: "::1"), client_with_unbind(log, :one)) }
      expect(log).to eq([[:unbind, Errno::ECONNREFUSED]])
    end

    it "a refused connect never calls connection_completed" do
      log = []
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { log << :completed }
        define_method(:unbind) { |r| log << r; EM.stop }
      end
      run_em { EM.connect("127.0.0.1", refused_port, client) }
      expect(log).to eq([Errno::ECONNREFUSED])
    end
  end

  describe "close_connection and close_connection_after_writing" do
    let(:size) { 16 * 1024 * 1024 }

    # The server sends `size` bytes to a paused client, then closes with
    # `how`; the client resumes 0.3 s later and counts what arrives.
    def bytes_after_close(how)
      payload = pattern_bytes(size)
      received = nil
      server = Class.new(EM::Connection) do
        define_method(:post_init) do
          send_data(payload)
          how == :after_writing ? close_connection_after_writing : close_connection
        end
      end
      client = Class.new(EM::Connection) do
        define_method(:post_init) do
          @got = +"".b
          pause
          EM.add_timer(0.3) { resume }
        end
        define_method(:receive_data) { |d| @got << d }
        define_method(:unbind) { |_r| received = @got; EM.stop }
      end
      run_em(8) do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, client)
      end
      [received, payload]
    end

    it "close_connection_after_writing sends everything buffered first", timeout: 30 do
      received, payload = bytes_after_close(:after_writing)
      expect(received.bytesize).to eq(payload.bytesize)
      expect(received == payload).to be(true)
    end

    it "close_connection closes at once and drops what was still buffered", timeout: 30 do
      received, payload = bytes_after_close(:now)
      expect(received.bytesize).to be < payload.bytesize
      expect(received == payload.byteslice(0, received.bytesize)).to be(true)
    end

    it "close_connection(true) is close_connection_after_writing" do
      got = nil
      server = Class.new(EM::Connection) do
        define_method(:post_init) { send_data("x" * 100_000); close_connection(true) }
      end
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, ConnectionHelpers::Collector, ->(data, _) { got = data; EM.stop })
      end
      expect(got.bytesize).to eq(100_000)
    end

    it "both return nil" do
      results = []
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { results << close_connection_after_writing << close_connection }
        define_method(:unbind) { EM.stop }
      end
      run_em do
        _, port = start_server_on_free_port
        EM.connect("127.0.0.1", port, client)
      end
      expect(results).to eq([nil, nil])
    end
  end

  describe "closing from inside receive_data" do
    it "calls unbind exactly once, after receive_data has returned" do
      log = []
      server = Class.new(EM::Connection) do
        define_method(:receive_data) do |d|
          log << :receive_data
          close_connection
          log << :returned
        end
        define_method(:unbind) { log << :unbind; EM.add_timer(0.1) { EM.stop } }
      end
      client = Class.new(EM::Connection) { define_method(:connection_completed) { send_data("go") } }
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, client)
      end
      expect(log).to eq(%i[receive_data returned unbind])
    end

    it "delivers no more data after close_connection", em_rust_only: "real EM keeps calling receive_data with the rest of the current read batch (up to ~160 KiB) after close_connection" do
      calls = 0
      server = Class.new(EM::Connection) do
        define_method(:receive_data) { |_d| calls += 1; close_connection }
        define_method(:unbind) { EM.add_timer(0.1) { EM.stop } }
      end
      client = Class.new(EM::Connection) { define_method(:connection_completed) { send_data("z" * 1_000_000) } }
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, client)
      end
      expect(calls).to eq(1)
    end

    it "close_connection_after_writing from receive_data still sends the reply" do
      got = nil
      server = Class.new(EM::Connection) do
        define_method(:receive_data) { |d| send_data("reply to #{d}"); close_connection_after_writing }
      end
      client = Class.new(ConnectionHelpers::Collector) do
        define_method(:connection_completed) { send_data("question") }
      end
      run_em do
        _, port = start_server_on_free_port(server)
        EM.connect("127.0.0.1", port, client, ->(data, reason) { got = [data, reason]; EM.stop })
      end
      expect(got).to eq(["reply to question", nil])
    end
  end

  describe "using a connection after it is closed" do
    it "send_data after close_connection returns 0 and sends nothing" do
      results = []
      got = nil
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) do
          send_data("before")
          close_connection_after_writing
          results << send_data("after") << get_outbound_data_size
        end
      end
      run_em do
        _, port = start_server_on_free_port(ConnectionHelpers::Collector, ->(data, _) { got = data; EM.add_timer(0.1) { EM.stop } })
        EM.connect("127.0.0.1", port, client)
      end
      expect(results[0]).to eq(0)
      expect(got).to eq("before")
    end

    it "after unbind: send_data returns -1, close_connection is a no-op, get_peername is nil, error? is true" do
      results = nil
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { close_connection }
        define_method(:unbind) do
          EM.next_tick do
            results = {
              send_data: send_data("late"),
              close_connection: close_connection,
              close_after_writing: close_connection_after_writing,
              get_peername: get_peername,
              get_sockname: get_sockname,
              outbound: get_outbound_data_size,
              error: error?,
            }
            EM.stop
          end
        end
      end
      run_em do
        _, port = start_server_on_free_port
        EM.connect("127.0.0.1", port, client)
      end
      expect(results).to eq(send_data: -1, close_connection: nil, close_after_writing: nil,
                            get_peername: nil, get_sockname: nil, outbound: 0, error: true)
    end

    it "error? is false on a live connection" do
      seen = []
      client = Class.new(EM::Connection) do
        define_method(:post_init) { seen << error? }
        define_method(:connection_completed) { seen << error?; close_connection }
        define_method(:unbind) { EM.stop }
      end
      run_em do
        _, port = start_server_on_free_port
        EM.connect("127.0.0.1", port, client)
      end
      expect(seen).to eq([false, false])
    end
  end

  describe "EM.stop with open connections" do
    it "unbinds every open connection (reason nil) before EM.run returns" do
      unbound = []
      handler = Class.new(EM::Connection) do
        define_method(:initialize) { |side| @side = side }
        define_method(:unbind) { |reason| unbound << [@side, reason] }
      end
      run_em do
        _, port = start_server_on_free_port(handler, :server)
        2.times { EM.connect("127.0.0.1", port, handler, :client) }
        EM.add_timer(0.2) { EM.stop }
      end
      expect(unbound).to contain_exactly([:server, nil], [:server, nil], [:client, nil], [:client, nil])
    end
  end
end
