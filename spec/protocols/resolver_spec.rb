# frozen_string_literal: true
require "resolv"
require "socket"

RSpec.describe EventMachine::DNS::Resolver do
  # A fake nameserver on 127.0.0.1:53 (EventMachine's resolver only talks to
  # port 53): answers names in +zone+ with A records, others with NXDOMAIN,
  # and ignores the first +ignore+ queries.
  def nameserver(zone, ignore: 0)
    @dns = UDPSocket.new
    begin
      @dns.bind("127.0.0.1", 53)
    rescue Errno::EACCES, Errno::EADDRINUSE => e
      skip("cannot run a fake nameserver on 127.0.0.1:53: #{e.class}")
    end
    @queries = []
    @dns_thread = Thread.new do
      loop do
        data, from = @dns.recvfrom(512)
        query = Resolv::DNS::Message.decode(data)
        name = query.question.first.first.to_s
        @queries << [name, query.question.first.last, query.rd]
        next if @queries.size <= ignore

        reply = Resolv::DNS::Message.new(query.id)
        reply.qr = 1
        reply.rd = query.rd
        reply.add_question(name, Resolv::DNS::Resource::IN::A)
        if zone[name]
          zone[name].each { |ip| reply.add_answer(name, 60, Resolv::DNS::Resource::IN::A.new(ip)) }
        else
          reply.rcode = Resolv::DNS::RCode::NXDomain
        end
        @dns.send(reply.encode, 0, from[3], from[1])
      end
    rescue IOError, SystemCallError
      nil
    end
  end

  before { described_class.nameservers = ["127.0.0.1"] }

  after do
    described_class.nameservers = nil
    @dns&.close
    @dns_thread&.join(1)
  end

  def lookup(name, &tune)
    outcome = nil
    run_em do
      req = described_class.resolve(name)
      tune&.call(req)
      req.callback { |addrs| outcome = [:ok, addrs]; EM.stop }
      req.errback { |why| outcome = [:failed, why]; EM.stop }
    end
    outcome
  end

  it "resolves a name with an A query (recursion desired) to its addresses" do
    nameserver({ "app.test" => ["10.0.0.7", "10.0.0.8"] })
    expect(lookup("app.test")).to eq([:ok, ["10.0.0.7", "10.0.0.8"]])
    expect(@queries).to eq([["app.test", Resolv::DNS::Resource::IN::A, 1]])
  end

  it "fails with the rcode for a name that does not exist" do
    nameserver({})
    expect(lookup("missing.test")).to eq([:failed, "rcode=3"])
  end

  it "retries an unanswered query every retry_interval, max_tries times in all" do
    nameserver({ "slow.test" => ["10.9.9.9"] }, ignore: 1)
    expect(lookup("slow.test") { |r| r.retry_interval = 0.3 }).to eq([:ok, ["10.9.9.9"]])
    expect(@queries.size).to eq(2)
  end

  it "gives up with 'retries exceeded'" do
    nameserver({}, ignore: 100)
    result = lookup("silent.test") do |r|
      r.retry_interval = 0.2
      r.max_tries = 2
    end
    expect(result).to eq([:failed, "retries exceeded"])
    expect(@queries.size).to eq(2)
  end

  it "answers from the hosts file without a query" do
    hosts = described_class.hosts
    name, addrs = hosts.find { |n, _| n == "localhost" } || hosts.first
    skip("no usable hosts file") unless name
    described_class.nameservers = []
    expect(lookup(name)).to eq([:ok, addrs])
  end

  it "keeps working across reactor runs (the socket is reopened)" do
    nameserver({ "a.test" => ["10.1.1.1"], "b.test" => ["10.2.2.2"] })
    expect(lookup("a.test")).to eq([:ok, ["10.1.1.1"]])
    expect(lookup("b.test")).to eq([:ok, ["10.2.2.2"]])
  end

  it "reads the nameservers of /etc/resolv.conf" do
    described_class.nameservers = nil
    expected = File.exist?("/etc/resolv.conf") ? File.read("/etc/resolv.conf").scan(/^nameserver\s+(\S+)/).flatten : []
    expect(described_class.nameservers).to eq(expected)
    expect(described_class.nameserver).to be_nil.or(satisfy { |ns| expected.include?(ns) })
  end

  it "maps every name of /etc/hosts to its addresses" do
    expect(described_class.hosts).to be_a(Hash)
    expect(described_class.hosts.values).to all(be_an(Array))
  end
end
