# frozen_string_literal: true
require_relative "rethinkdb_helper"

# Pseudo-types in responses: TIME, GROUPED_DATA and BINARY become Ruby
# objects unless time_format/group_format/binary_format is 'raw' (RETHINKDB.md
# §3.6). No server needed; sync_run_spec and em_run_spec check them end to end.
RSpec.describe "RethinkDB pseudo-types", :rethinkdb do
  def convert(value, **opts)
    RethinkDB::PseudoTypes.convert!(JSON.parse(JSON.generate(value)), opts)
  end

  def time(epoch, zone)
    { "$reql_type$" => "TIME", "epoch_time" => epoch, "timezone" => zone }
  end

  describe "TIME" do
    it "becomes a Time in its zone" do
      t = convert([time(1.5, "-05:30")])[0]
      expect(t).to be_a(Time)
      expect(t.to_r).to eq(Rational(3, 2))
      expect(t.utc_offset).to eq(-(5 * 3600 + 30 * 60))
    end

    it "is UTC for an empty zone, Z or none, but a +00:00 local time for +00:00" do
      expect(convert([time(0, "")])[0]).to be_utc
      expect(convert([time(0, "Z")])[0]).to be_utc
      expect(convert([time(0, nil)])[0]).to be_utc
      plus_zero = convert([time(0, "+00:00")])[0]
      expect(plus_zero).not_to be_utc
      expect(plus_zero.utc_offset).to eq(0)
    end

    it "keeps milliseconds only" do
      expect(convert([time(1.23456, "Z")])[0].to_f).to eq(1.234)
    end

    it "stays a Hash with time_format: 'raw'" do
      raw = time(1.5, "Z")
      expect(convert([raw], time_format: "raw")).to eq([raw])
    end
  end

  describe "GROUPED_DATA" do
    let(:grouped) { { "$reql_type$" => "GROUPED_DATA", "data" => [[1, 2], ["a", [time(0, "Z")]]] } }

    it "becomes a Hash, its contents converted too" do
      hash = convert([grouped])[0]
      expect(hash.keys).to eq([1, "a"])
      expect(hash["a"][0]).to eq(Time.at(0).utc)
    end

    it "stays raw with group_format: 'raw'" do
      expect(convert([grouped], group_format: "raw")[0]["data"][0]).to eq([1, 2])
    end
  end

  describe "BINARY" do
    let(:binary) { { "$reql_type$" => "BINARY", "data" => "YWJj" } }

    it "becomes a RethinkDB::Binary, a BINARY-encoded String" do
      value = convert([binary])[0]
      expect(value).to be_a(RethinkDB::Binary)
      expect(value).to eq("abc".b)
      expect(value.encoding).to eq(Encoding::BINARY)
      expect(value.inspect).to eq("<binary, 3 bytes, '61 62 63'>")
    end

    it "stays raw with binary_format: 'raw'" do
      expect(convert([binary], binary_format: "raw")).to eq([binary])
    end

    it "inspects with at most six bytes" do
      expect(RethinkDB::Binary.new("").inspect).to eq("<binary, 0 bytes>")
      expect(RethinkDB::Binary.new("a").inspect).to eq("<binary, 1 byte, '61'>")
      expect(RethinkDB::Binary.new("abcdefg").inspect).to eq("<binary, 7 bytes, '61 62 63 64 65 66...'>")
    end
  end

  it "converts at any depth, and leaves unknown pseudo-types as Hashes" do
    point = { "$reql_type$" => "GEOMETRY", "type" => "Point", "coordinates" => [1, 2] }
    value = convert([{ "a" => [{ "b" => time(0, "Z") }], "geo" => point }])
    expect(value[0]["a"][0]["b"]).to eq(Time.at(0).utc)
    expect(value[0]["geo"]).to eq(point)
  end
end
