# frozen_string_literal: true
require "spec_helper"
require "securerandom"

# em-redis (Debian ruby-em-redis), unchanged, against a real redis-server
# (spec/support/redis_server.rb starts one on 127.0.0.1). em-redis is a
# Module handler for EM.connect that includes EM::Deferrable, queues commands
# until connection_completed, raises from unbind when it cannot connect,
# reconnects with `reconnect` after a drop, and re-arms itself by setting
# @deferred_status = nil.
RSpec.describe "em-redis", :integration do
  before(:context) do
    use_gems(:em_redis)
    skip("Debian package #{RedisServer::PACKAGE} not installed (apt-get install -y #{RedisServer::PACKAGE})") unless RedisServer.available?
    RedisServer.start!
  end

  let(:ns) { "em_rust:#{SecureRandom.hex(4)}:" }

  def connect(**opts) = EM::Protocols::Redis.connect({ host: RedisServer::HOST, port: RedisServer.port }.merge(opts))

  it "runs string, counter, list and hash commands, with a reply for each" do
    r = {}
    run_em(8, what: "redis replies") do
      redis = connect
      redis.set("#{ns}s", "value") { |v| r[:set] = v }
      redis.get("#{ns}s") { |v| r[:get] = v }
      redis.get("#{ns}missing") { |v| r[:missing] = v }
      redis.incr("#{ns}n") { |v| r[:incr1] = v }
      redis.incr("#{ns}n", 41) { |v| r[:incr2] = v }
      redis.rpush("#{ns}l", "a") { nil }
      redis.rpush("#{ns}l", "b") { nil }
      redis.lrange("#{ns}l", 0, -1) { |v| r[:list] = v }
      redis.hset("#{ns}h", "f", "1") { |v| r[:hset] = v }
      redis.hgetall("#{ns}h") { |v| r[:hash] = v }
      redis.exists("#{ns}s") { |v| r[:exists] = v }
      redis.del("#{ns}s") { |v| r[:del] = v; EM.stop }
    end
    expect(r).to eq(set: "OK", get: "value", missing: nil, incr1: 1, incr2: 42, list: %w[a b],
                    hset: true, hash: { "f" => "1" }, exists: true, del: true)
  end

  it "stores binary values and a 1 MiB value intact" do
    binary = (0..255).to_a.pack("C*") * 4
    large = Random.new(1).bytes(1 << 20)
    r = {}
    run_em(8, what: "redis binary replies") do
      redis = connect
      redis.set("#{ns}bin", binary)
      redis.set("#{ns}large", large)
      redis.get("#{ns}bin") { |v| r[:bin] = v }
      redis.get("#{ns}large") { |v| r[:large] = v; EM.stop }
    end
    expect(r[:bin].b).to eq(binary)
    expect(r[:large].bytesize).to eq(large.bytesize)
    expect(r[:large].b).to eq(large)
  end

  it "pipelines 1,000 commands sent before the connection completes, and answers them in order" do
    replies = []
    run_em(8, what: "1,000 pipelined replies") do
      redis = connect
      1000.times { |i| redis.incr("#{ns}p") { |v| replies << v; EM.stop if replies.size == 1000 } }
    end
    expect(replies).to eq((1..1000).to_a)
  end

  it "selects a database given at connect time" do
    r = {}
    run_em(8, what: "redis replies in two databases") do
      one = connect(db: 1)
      zero = connect
      one.set("#{ns}db", "in one") do
        one.get("#{ns}db") do |v|
          r[:one] = v
          zero.get("#{ns}db") { |z| r[:zero] = z; EM.stop }
        end
      end
    end
    expect(r).to eq(one: "in one", zero: nil)
  end

  it "hands a server error to the errback and keeps working" do
    errors = []
    after = nil
    run_em(8, what: "redis error and recovery") do
      redis = connect
      redis.errback { |code| errors << code }
      redis.set("#{ns}str", "x")
      redis.lpush("#{ns}str", "y") { |v| errors << [:unexpected_reply, v] }
      redis.get("#{ns}str") { |v| after = v; EM.stop }
    end
    expect(errors.size).to eq(1)
    expect(errors.first).to start_with("WRONGTYPE")
    expect(after).to eq("x")
  end

  it "reconnects after the server drops it, and answers commands issued meanwhile", timeout: 15 do
    r = {}
    t0 = now
    run_em(10, what: "em-redis to reconnect") do
      redis = connect
      killer = connect
      redis.set("#{ns}k", "before")
      redis.client("id") do |id|
        killer.client("kill", "id", id) do |killed|
          r[:killed] = killed
          EM.add_timer(0.2) do # em-redis has seen the drop; it reconnects after its 1 s timer
            redis.get("#{ns}k") do |v|
              r[:after] = v
              r[:elapsed] = now - t0
              EM.stop
            end
          end
        end
      end
    end
    expect(r[:killed]).to eq(1)
    expect(r[:after]).to eq("before")
    expect(r[:elapsed]).to be_between(0.9, 8)
  end

  it "raises 'Unable to connect to redis server' out of EM.run when the port is closed" do
    port = closed_port
    expect do # run_em's watchdog would raise a different RuntimeError
      run_em(5, what: "the connect failure") { EM::Protocols::Redis.connect(host: RedisServer::HOST, port: port) }
    end.to raise_error(RuntimeError, "Unable to connect to redis server")
    expect(EM.reactor_running?).to be(false)
  end

  it "gives em-synchrony's synchronous API (in a child ruby: em-synchrony patches em-redis)", timeout: 20 do
    skip("Debian package ruby-em-synchrony not installed") unless IntegrationHelpers.gem_installed?(:em_synchrony)
    (r,) = run_child(<<~RUBY, timeout: 15)
      require "em-synchrony"
      require "em-synchrony/em-redis"
      EM.synchrony do
        EM.add_timer(8) { puts "WATCHDOG"; exit!(1) }
        redis = EM::Protocols::Redis.connect(host: "127.0.0.1", port: #{RedisServer.port})
        redis.set("#{ns}sync", "synchronous")
        value = redis.get("#{ns}sync")
        n = redis.incr("#{ns}sync_n")
        async = nil
        redis.aget("#{ns}sync") { |v| async = v }
        EM::Synchrony.sleep(0.01) until async
        report(value: value, n: n, async: async, connected: redis.connected)
        EM.stop
      end
    RUBY
    expect(r).to eq("value" => "synchronous", "n" => 1, "async" => "synchronous", "connected" => true)
  end
end
