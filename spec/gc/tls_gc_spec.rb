# frozen_string_literal: true
# TLS under `rake spec:gc_stress`, with the test certificates of
# spec/support/tls_helpers.rb (made before GC.stress is on): start_tls on both
# ends with verify_peer, ssl_verify_peer on both ends (the PEM String handed to
# Ruby during the handshake step), ssl_handshake_completed, the getters
# (peer_cert, cipher_name, cipher_bits, cipher_protocol, sni_hostname), data
# both ways, unbind; ssl_verify_peer rejecting (no handshake, unbind) and raising
# (EM.run re-raises it).
require_relative "preload"
require "socket"

RSpec.describe "TLS (the GC.stress subset)", :gc_stress do
  include ConnectionHelpers
  include TlsHelpers

  before(:context) { TlsHelpers::Certs.instance }

  # One end: logs [name, event] in order; `verify` is what ssl_verify_peer does.
  def tls_end(log, name, tls, verify, on_unbind)
    Class.new(EM::Connection) do
      define_method(:post_init) { start_tls(tls) if name == :server }
      define_method(:connection_completed) do
        start_tls(tls)
        send_data("secret") # held until the handshake completes
      end
      define_method(:ssl_verify_peer) do |pem|
        log << [name, :verify, pem.start_with?("-----BEGIN CERTIFICATE-----")]
        verify.call
      end
      define_method(:ssl_handshake_completed) do
        log << [name, :handshake, get_peer_cert.class, get_cipher_protocol, get_cipher_bits.class,
                get_cipher_name.class, get_sni_hostname]
      end
      define_method(:receive_data) do |d|
        log << [name, :data, d]
        return unless name == :server
        send_data(d.upcase)
        close_connection_after_writing
      end
      define_method(:unbind) do |*|
        log << [name, :unbind]
        on_unbind.call
      end
    end
  end

  def run_pair(log, server_verify:, client_verify:)
    unbinds = 0
    stop = -> { EM.stop if (unbinds += 1) == 2 }
    server_tls = certs.server_opts.merge(verify_peer: true)
    client_tls = certs.client_opts.merge(verify_peer: true, sni_hostname: "localhost")
    run_em(10, what: "both ends to unbind") do
      _, port = start_server_on_free_port(tls_end(log, :server, server_tls, server_verify, stop))
      EM.connect("127.0.0.1", port, tls_end(log, :client, client_tls, client_verify, stop))
    end
  end

  it "verifies both peers, completes the handshake with the getters set, carries data both ways, then unbinds" do
    log = []
    run_pair(log, server_verify: -> { true }, client_verify: -> { true })
    client = log.select { |l| l[0] == :client }
    server = log.select { |l| l[0] == :server }
    # The client sees the server's chain (leaf and CA), the server the client's.
    expect(client.map { |l| l[1] }.uniq).to eq(%i[verify handshake data unbind])
    expect(client.select { |l| l[1] == :verify }).to all(eq([:client, :verify, true]))
    expect(client.find { |l| l[1] == :handshake }).to eq([:client, :handshake, String, "TLSv1.3", Integer, String, "localhost"])
    expect(client.find { |l| l[1] == :data }).to eq([:client, :data, "SECRET"])
    expect(server.map { |l| l[1] }.uniq).to eq(%i[verify handshake data unbind])
    expect(server.find { |l| l[1] == :handshake }).to eq([:server, :handshake, String, "TLSv1.3", Integer, String, "localhost"])
    expect(server.find { |l| l[1] == :data }).to eq([:server, :data, "secret"])
  end

  it "a client whose ssl_verify_peer answers false gets no handshake and no data, only unbind" do
    log = []
    run_pair(log, server_verify: -> { true }, client_verify: -> { false })
    client = log.select { |l| l[0] == :client }.map { |l| l[1] }
    expect(client.uniq).to eq(%i[verify unbind])
    expect(log).not_to include(include(:handshake))
  end

  it "an exception in ssl_verify_peer ends EM.run with it" do
    log = []
    expect { run_pair(log, server_verify: -> { true }, client_verify: -> { raise ArgumentError, "refused" }) }
      .to raise_error(ArgumentError, "refused")
    expect(log.select { |l| l[0] == :client }.first).to eq([:client, :verify, true])
  end
end
