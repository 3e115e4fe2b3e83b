# frozen_string_literal: true
require_relative "failover_helper"

# r.connect(hosts:, reconnect:) and em_run(resume:): the options and their bad
# values, checked at connect / em_run (no server needed: a fake transport).
RSpec.describe "RethinkDB hosts and reconnect options", :rethinkdb,
               em_rust_only: "the RethinkDB client is em_rust's" do
  let(:fake) { RethinkDBSpec::FakeTransport }

  def connect(**opts)
    r.connect({ transport: fake }.merge(opts))
  end

  it "rejects an empty host list, a port out of range and host: with hosts:" do
    expect { connect(hosts: []) }
      .to raise_error(ArgumentError, "hosts: must be a non-empty Array of [host, port] pairs (got []).")
    expect { connect(hosts: [["127.0.0.1", 70_000]]) }
      .to raise_error(ArgumentError, "hosts: port of 127.0.0.1 must be a port number from 1 to 65535 (got 70000).")
    expect { connect(hosts: [["127.0.0.1", 0]]) }.to raise_error(ArgumentError, /from 1 to 65535 \(got 0\)/)
    expect { connect(port: 65_536) }
      .to raise_error(ArgumentError, "port: must be a port number from 1 to 65535 (got 65536).")
    expect { connect(port: "http") }.to raise_error(ArgumentError, /port: must be a port number .* \(got "http"\)/)
    expect { connect(host: "a", hosts: [["b", 1]]) }
      .to raise_error(ArgumentError, "Give either host:/port: or hosts:, not both.")
    expect { connect(port: 28_015, hosts: [["b", 1]]) }.to raise_error(ArgumentError, /not both/)
    expect { connect(hosts: ["127.0.0.1:28015"]) }.to raise_error(ArgumentError, /each entry must be a \[host, port\] pair/)
    expect { connect(hosts: [["", 1]]) }.to raise_error(ArgumentError, /empty host name/)
    expect { connect(hosts: "127.0.0.1") }.to raise_error(ArgumentError, /non-empty Array/)
  end

  it "rejects bad reconnect: options" do
    expect { connect(reconnect: 3) }.to raise_error(ArgumentError, /reconnect: must be true, false or a Hash/)
    expect { connect(reconnect: { delay: 1 }) }
      .to raise_error(ArgumentError, "reconnect: unknown option(s) :delay (known: :initial, :max, :attempts, :jitter).")
    expect { connect(reconnect: { initial: -1 }) }.to raise_error(ArgumentError, /initial must be a number of seconds/)
    expect { connect(reconnect: { initial: 1, max: 0.5 }) }.to raise_error(ArgumentError, /max must be .* from 1.0/)
    expect { connect(reconnect: { jitter: 2 }) }.to raise_error(ArgumentError, /jitter must be a number from 0.0 to 1.0/)
    expect { connect(reconnect: { attempts: 0 }) }.to raise_error(ArgumentError, /attempts must be an Integer/)
  end

  it "reconnects by default with several hosts, not with one unless asked" do
    two = connect(hosts: [["127.0.0.1", 1], ["127.0.0.1", 2]])
    expect(two.reconnect_options).to eq(initial: 0.05, max: 2.0, attempts: 10, jitter: 0.5)
    expect(two.hosts).to eq([["127.0.0.1", 1], ["127.0.0.1", 2]])
    expect([two.host, two.port]).to eq(["127.0.0.1", 1])
    expect(connect(hosts: [["127.0.0.1", 1], ["127.0.0.1", 2]], reconnect: false).reconnect_options).to be_nil
    expect(connect(port: 1).reconnect_options).to be_nil
    expect(connect(port: 1, reconnect: { attempts: 3 }).reconnect_options).to include(attempts: 3)
    expect(connect(port: 1, reconnect: true).reconnect_options).to include(initial: 0.05)
  end

  it "delays attempts exponentially, with jitter below, never above max" do
    backoff = RethinkDB::Backoff.new(initial: 0.1, max: 1.0, attempts: 8, jitter: 0.5, random: Random.new(1))
    delays = Array.new(8) { |k| backoff.delay(k) }
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    delays.zip(ceilings).each do |delay, ceiling|
      expect(delay).to be_between(ceiling * 0.5, ceiling)
    end
    exact = RethinkDB::Backoff.new(initial: 0.05, max: 2.0, jitter: 0)
    expect(Array.new(8) { |k| exact.delay(k) }).to eq([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    expect(exact.delay(10_000)).to eq(2.0)
  end

  it "takes resume: only for changefeeds on a connection that reconnects" do
    handler = FailoverSpec.recorder
    plain = connect(port: 1)
    failing = connect(hosts: [["127.0.0.1", 1], ["127.0.0.1", 2]])
    run_em do
      expect { r.table("t").em_run(failing, handler, resume: true) }
        .to raise_error(ArgumentError, /resume: true is for changefeeds/)
      expect { r.table("t").changes.em_run(plain, handler, resume: true) }
        .to raise_error(ArgumentError, /resume: true needs a connection that reconnects/)
      expect { r.table("t").changes.em_run(failing, handler, resume: "yes") }
        .to raise_error(ArgumentError, 'resume: must be true or false (got "yes").')
      handle = r.table("t").get(1).changes.em_run(failing, handler, resume: true)
      _, query = fake.last.queries.last
      expect(query[2]).not_to have_key("resume")
      handle.close
      EM.stop
    end
  end
end
