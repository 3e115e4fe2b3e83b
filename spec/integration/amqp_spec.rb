# frozen_string_literal: true
require "spec_helper"
require "securerandom"
require "digest"

# The amqp gem (Debian ruby-amqp 1.8), unchanged, against a real RabbitMQ:
# spec/support/rabbitmq_server.rb starts a private node (own node name, ports,
# epmd and data directory, 127.0.0.1 only) once for this file. amqp is an
# EM::Connection that frames AMQP 0-9-1 itself: connection and channel
# handshakes, content split into body frames of at most frame_max bytes,
# heartbeats on EM timers, publisher confirms and consumer acks.
RSpec.describe "amqp gem against rabbitmq-server", :integration do
  before(:context) do
    require_real_gems!("ruby-amqp", "amqp")
    @rabbit = RabbitMQServer.new.start!
  end

  after(:context) { @rabbit&.stop! }

  let(:prefix) { "em_rust.#{SecureRandom.hex(4)}" }

  # Runs the reactor, connects, yields the session; the example stops the
  # reactor (usually from session.close's callback).
  def with_session(timeout: 8, what: "the AMQP exchange to finish", **opts)
    session = nil
    run_em(timeout, what: what) do
      AMQP.connect(@rabbit.connection_options.merge(opts)) do |s|
        session = s
        yield s
      end
    end
    session
  end

  it "publishes 10,000 messages with publisher confirms and consumes them with acks, in order, then closes cleanly", timeout: 40 do
    n = 10_000
    confirmed = 0
    nacked = []
    outstanding = {} # publisher sequence number => payload index
    received = []
    redelivered = 0
    status = nil
    closed = false
    t0 = now
    session = with_session(timeout: 30, what: "10,000 confirmed and consumed messages") do |s|
      publisher = AMQP::Channel.new(s)
      consumer = AMQP::Channel.new(s)
      consumer.prefetch(500)
      finish = lambda do
        next unless received.size == n && confirmed == n
        # The broker has nothing left: every message was acked, none is unacked.
        consumer.queue("#{prefix}.confirmed", auto_delete: false).status do |messages, consumers|
          status = [messages, consumers]
          s.close { closed = true; EM.stop }
        end
      end
      publisher.confirm_select do
        publisher.on_ack do |ack|
          tags = ack.multiple ? outstanding.each_key.take_while { |t| t <= ack.delivery_tag } : [ack.delivery_tag]
          tags.each { |t| confirmed += 1 if outstanding.delete(t) }
          finish.call
        end
        publisher.on_nack { |nack| nacked << nack.delivery_tag }
        consumer.queue("#{prefix}.confirmed", auto_delete: false) do |queue|
          queue.subscribe(ack: true) do |meta, payload|
            received << Integer(payload)
            redelivered += 1 if meta.redelivered?
            meta.ack
            finish.call
          end
          exchange = publisher.default_exchange
          n.times do |i|
            exchange.publish(i.to_s, routing_key: queue.name)
            outstanding[publisher.publisher_index] = i
          end
        end
      end
    end
    elapsed = now - t0
    expect(nacked).to eq([])
    expect(confirmed).to eq(n)
    expect(outstanding).to eq({})
    expect(received.size).to eq(n)
    expect(received).to eq((0...n).to_a)
    expect(redelivered).to eq(0)
    expect(status).to eq([0, 1])
    expect(closed).to be(true)
    expect(session).to be_closed
    expect(elapsed).to be < 25
  ensure
    delete_queues("#{prefix}.confirmed")
  end

  it "carries message properties, headers and a 1 MiB binary body (split into frames) intact" do
    body = Random.new(11).bytes(1 << 20)
    got = nil
    with_session(what: "a 1 MiB message back") do |s|
      ch = AMQP::Channel.new(s)
      ch.queue("", exclusive: true) do |q|
        q.subscribe do |meta, payload|
          got = { payload: payload, content_type: meta.content_type, message_id: meta.message_id,
                  headers: meta.headers, priority: meta.priority, type: meta.type, app_id: meta.app_id }
          s.close { EM.stop }
        end
        ch.default_exchange.publish(body, routing_key: q.name, content_type: "application/octet-stream",
                                          message_id: "m-1", headers: { "n" => 42, "s" => "text", "b" => true },
                                          priority: 3, type: "blob", app_id: "em_rust-spec")
      end
    end
    expect(got[:payload].bytesize).to eq(body.bytesize)
    expect(Digest::SHA256.hexdigest(got[:payload])).to eq(Digest::SHA256.hexdigest(body))
    expect(got.except(:payload)).to eq(content_type: "application/octet-stream", message_id: "m-1",
                                       headers: { "n" => 42, "s" => "text", "b" => true }, priority: 3,
                                       type: "blob", app_id: "em_rust-spec")
  end

  it "routes through topic and fanout exchanges to the bound queues only" do
    got = Hash.new { |h, k| h[k] = [] }
    with_session(what: "routed messages") do |s|
      ch = AMQP::Channel.new(s)
      topic = ch.topic("#{prefix}.topic", auto_delete: true)
      fanout = ch.fanout("#{prefix}.fanout", auto_delete: true)
      expected = 5
      done = -> { s.close { EM.stop } if got.values.sum(&:size) == expected }
      queues = { red: "colour.red.*", all: "colour.#", fan1: nil, fan2: nil }
      bound = 0
      queues.each do |name, key|
        ch.queue("", exclusive: true) do |q|
          key ? q.bind(topic, routing_key: key) : q.bind(fanout)
          q.subscribe { |_meta, payload| got[name] << payload; done.call }
          bound += 1
          next unless bound == queues.size
          ch.queue("", exclusive: true) do # a round trip: every bind and subscribe is in place
            topic.publish("red apple", routing_key: "colour.red.apple")
            topic.publish("blue sky", routing_key: "colour.blue.sky")
            topic.publish("no match", routing_key: "shape.square")
            fanout.publish("to everyone")
          end
        end
      end
    end
    expect(got.transform_values(&:sort)).to eq(red: ["red apple"], all: ["blue sky", "red apple"],
                                                fan1: ["to everyone"], fan2: ["to everyone"])
  end

  it "requeues a rejected message, which comes back marked redelivered" do
    seen = []
    with_session(what: "a redelivered message") do |s|
      ch = AMQP::Channel.new(s)
      ch.queue("", exclusive: true) do |q|
        q.subscribe(ack: true) do |meta, payload|
          seen << [payload, meta.redelivered?]
          if meta.redelivered?
            meta.ack
            s.close { EM.stop }
          else
            meta.reject(requeue: true)
          end
        end
        ch.default_exchange.publish("again", routing_key: q.name)
      end
    end
    expect(seen).to eq([["again", false], ["again", true]])
  end

  it "hands a channel-level error (404 on a passive declare) to the channel's on_error; the connection keeps working" do
    r = {}
    with_session(what: "a channel error and a working channel after it") do |s|
      bad = AMQP::Channel.new(s)
      bad.on_error do |_ch, close|
        r[:error] = [close.reply_code, close.reply_text[/NOT_FOUND/]]
        good = AMQP::Channel.new(s)
        good.queue("", exclusive: true) do |q|
          q.subscribe { |_m, payload| r[:after] = payload; s.close { EM.stop } }
          good.default_exchange.publish("still here", routing_key: q.name)
        end
      end
      bad.queue("#{prefix}.does-not-exist", passive: true)
    end
    expect(r).to eq(error: [404, "NOT_FOUND"], after: "still here")
  end

  it "calls on_tcp_connection_failure when nothing listens on the port" do
    failed = nil
    run_em(8, what: "the TCP connection failure callback") do
      AMQP.connect(host: PrivateServer::HOST, port: closed_port,
                   on_tcp_connection_failure: ->(settings) { failed = settings[:port]; EM.stop })
    end
    expect(failed).to be_a(Integer)
  end

  # Queues the examples declared non-auto-delete, removed on a fresh connection.
  def delete_queues(*names)
    return unless @rabbit&.running?
    EM.stop if EM.reactor_running?
    run_em(8, what: "queue deletion") do
      AMQP.connect(@rabbit.connection_options) do |s|
        ch = AMQP::Channel.new(s)
        left = names.size
        names.each { |n| ch.queue(n, auto_delete: false).delete { (left -= 1).zero? && s.close { EM.stop } } }
      end
    end
  end
end
