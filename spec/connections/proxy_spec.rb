# frozen_string_literal: true
require "spec_helper"

# Connection#proxy_incoming_to(target, bufsize = 0) (= EM.enable_proxy(from, to,
# bufsize, length = 0)) makes the reactor copy what `from` receives straight
# to `target`, without calling from.receive_data.
RSpec.describe "proxying" do
  # Records what it receives and the proxy callbacks, under a name.
  def named_handler(log)
    Class.new(EM::Connection) do
      define_method(:initialize) { |name| @name = name }
      define_method(:receive_data) { |d| log << [@name, :data, d] }
      define_method(:proxy_target_unbound) { log << [@name, :proxy_target_unbound] }
      define_method(:proxy_completed) { log << [@name, :proxy_completed, get_proxied_bytes] }
      define_method(:unbind) { log << [@name, :unbind] }
    end
  end

  # Two clients a and b of one server; yields (a, b, server side of a, server side of b).
  def with_two_pairs(log)
    accepted = []
    run_em do
      _, port = start_server_on_free_port(named_handler(log), :server) { |c| accepted << c }
      a = EM.connect("127.0.0.1", port, named_handler(log), :a)
      when_true(-> { accepted.size == 1 }) do
        b = EM.connect("127.0.0.1", port, named_handler(log), :b)
        when_true(-> { accepted.size == 2 }) { yield a, b, *accepted }
      end
    end
  end

  def data_entries(log) = log.select { |l| l[1] == :data }

  it "forwards what the source receives to the target, bypassing the source's receive_data; get_proxied_bytes counts it" do
    log = []
    counts = []
    with_two_pairs(log) do |a, b, sa, sb|
      expect(sa.proxy_incoming_to(sb)).to be_nil
      a.send_data("through ")
      a.send_data("the proxy")
      when_true(-> { data_entries(log).map(&:last).join == "through the proxy" }) do
        counts << sa.get_proxied_bytes << sb.get_proxied_bytes
        EM.stop
      end
    end
    expect(data_entries(log).map(&:first).uniq).to eq([:b])
    expect(counts).to eq([17, 0])
  end

  it "stop_proxying hands data back to the source's receive_data" do
    log = []
    with_two_pairs(log) do |a, _b, sa, sb|
      sa.proxy_incoming_to(sb)
      a.send_data("proxied")
      EM.add_timer(0.1) do
        sa.stop_proxying
        a.send_data("direct")
        stop_when { data_entries(log).size == 2 }
      end
    end
    expect(data_entries(log)).to eq([[:b, :data, "proxied"], [:server, :data, "direct"]])
  end

  it "with a length (EM.enable_proxy(from, to, 0, length)) forwards that many bytes, calls proxy_completed, then delivers the rest to receive_data" do
    log = []
    with_two_pairs(log) do |a, _b, sa, sb|
      EM.enable_proxy(sa, sb, 0, 5)
      a.send_data("12345and the rest")
      stop_when { data_entries(log).map(&:last).join.size == 17 }
    end
    expect(log).to include([:server, :proxy_completed, 5])
    by_conn = data_entries(log).group_by(&:first).transform_values { |es| es.map(&:last).join }
    expect(by_conn).to eq(b: "12345", server: "and the rest")
    expect(log.index([:server, :proxy_completed, 5])).to be < log.index(data_entries(log).find { |e| e[0] == :server })
  end

  it "when the target goes away the source gets proxy_target_unbound (after the target's unbind), stays open, and receives data itself again" do
    log = []
    with_two_pairs(log) do |a, _b, sa, sb|
      sa.proxy_incoming_to(sb)
      sb.close_connection
      when_true(-> { log.include?([:server, :proxy_target_unbound]) }) do
        a.send_data("after the target left")
        stop_when { data_entries(log).any? }
      end
    end
    unbind_at = log.index([:server, :unbind])
    expect(unbind_at).to be < log.index([:server, :proxy_target_unbound])
    expect(data_entries(log)).to eq([[:server, :data, "after the target left"]])
  end

  it "proxies both ways between a front connection and a backend client it opened (a TCP relay)" do
    reply = nil
    backend_port = nil
    relay = Class.new(EM::Connection) do
      define_method(:post_init) do
        backend = EM.connect("127.0.0.1", backend_port, EM::Connection)
        proxy_incoming_to(backend)
        backend.proxy_incoming_to(self)
      end
    end
    run_em do
      _, backend_port = start_server_on_free_port(ConnectionHelpers::Upcase)
      _, relay_port = start_server_on_free_port(relay)
      client = Class.new(EM::Connection) do
        define_method(:connection_completed) { send_data("via the relay") }
        define_method(:receive_data) { |d| (reply ||= +"") << d; EM.stop if reply.size == 13 }
      end
      EM.connect("127.0.0.1", relay_port, client)
    end
    expect(reply).to eq("VIA THE RELAY")
  end

  it "a proxied stream of 4 MiB arrives complete and in order" do
    payload = pattern_bytes(4 * 1024 * 1024, seed: 11)
    got = +"".b
    with_two_pairs([]) do |a, b, sa, sb|
      b.singleton_class.define_method(:receive_data) { |d| got << d }
      sa.proxy_incoming_to(sb)
      a.send_data(payload)
      stop_when(timeout: 10, what: "4 MiB through the proxy") { got.bytesize >= payload.bytesize }
    end
    expect(got == payload).to be(true)
  end
end
