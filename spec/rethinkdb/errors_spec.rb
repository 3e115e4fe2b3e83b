# frozen_string_literal: true
require_relative "rethinkdb_helper"

# The Reql* exception hierarchy, the Rql* aliases, and which exception (and
# message) each error response becomes (RETHINKDB.md §3.5). No server needed.
RSpec.describe "RethinkDB errors", :rethinkdb do
  let(:hierarchy) do
    {
      ReqlError: :RuntimeError,
      ReqlRuntimeError: :ReqlError,
      ReqlInternalError: :ReqlRuntimeError,
      ReqlResourceLimitError: :ReqlRuntimeError,
      ReqlQueryLogicError: :ReqlRuntimeError,
      ReqlNonExistenceError: :ReqlQueryLogicError,
      ReqlAvailabilityError: :ReqlRuntimeError,
      ReqlOpFailedError: :ReqlAvailabilityError,
      ReqlOpIndeterminateError: :ReqlAvailabilityError,
      ReqlUserError: :ReqlRuntimeError,
      ReqlPermissionError: :ReqlRuntimeError,
      ReqlDriverError: :ReqlError,
      ReqlAuthError: :ReqlDriverError,
      ReqlCompileError: :ReqlError,
      ReqlServerCompileError: :ReqlCompileError,
      ReqlDriverCompileError: :ReqlCompileError
    }
  end

  it "has the official hierarchy" do
    hierarchy.each do |name, parent|
      klass = RethinkDB.const_get(name)
      expected_parent = parent == :RuntimeError ? RuntimeError : RethinkDB.const_get(parent)
      expect(klass.superclass).to eq(expected_parent), name.to_s
      expect(klass.name).to eq("RethinkDB::#{name}")
    end
  end

  it "reaches every Reql class under its Rql alias" do
    hierarchy.each_key do |name|
      expect(RethinkDB.const_get(name.to_s.sub("Reql", "Rql"))).to equal(RethinkDB.const_get(name))
    end
    expect { raise RethinkDB::ReqlRuntimeError, "x" }.to raise_error(RethinkDB::RqlRuntimeError)
  end

  describe "error responses" do
    let(:term) { r.table("non_existent").to_pb }

    def error_for(response)
      RethinkDB::Responses.error(response, term)
    end

    it "picks the class of a RUNTIME_ERROR by its error type" do
      {
        1_000_000 => RethinkDB::ReqlInternalError,
        2_000_000 => RethinkDB::ReqlResourceLimitError,
        3_000_000 => RethinkDB::ReqlQueryLogicError,
        3_100_000 => RethinkDB::ReqlNonExistenceError,
        4_100_000 => RethinkDB::ReqlOpFailedError,
        4_200_000 => RethinkDB::ReqlOpIndeterminateError,
        5_000_000 => RethinkDB::ReqlUserError,
        6_000_000 => RethinkDB::ReqlPermissionError,
        42 => RethinkDB::ReqlRuntimeError,
        nil => RethinkDB::ReqlRuntimeError
      }.each do |e, klass|
        expect(error_for({ "t" => 18, "e" => e, "r" => ["m"], "b" => [] })).to be_an_instance_of(klass), e.inspect
      end
    end

    it "makes COMPILE_ERROR a ReqlServerCompileError and CLIENT_ERROR a ReqlDriverError" do
      expect(error_for({ "t" => 17, "r" => ["m"] })).to be_an_instance_of(RethinkDB::ReqlServerCompileError)
      expect(error_for({ "t" => 16, "r" => ["m"] })).to be_an_instance_of(RethinkDB::ReqlDriverError)
    end

    it "writes the message, then the query with the backtrace underlined" do
      error = error_for({ "t" => 18, "r" => ["Table `test.non_existent` does not exist."], "b" => [] })
      expect(error.message).to eq(<<~MSG.chomp)
        Table `test.non_existent` does not exist.
        Backtrace:
        r.table("non_existent")
        ^^^^^^^^^^^^^^^^^^^^^^^
      MSG
      expect(error_for({ "t" => 18, "r" => ["m"] }).message).to eq(%(m\nBacktrace:\nr.table("non_existent")))
    end

    it "makes any other response an unexpected one" do
      response = { "t" => 5, "r" => [{ "name" => "x" }] }
      error = error_for(response)
      expect(error).to be_an_instance_of(RethinkDB::ReqlRuntimeError)
      expect(error.message).to eq(%(Unexpected response: #{response.inspect}\nBacktrace:\nr.table("non_existent")))
      expect(error_for({ "r" => ["no t"] }).message).to start_with('Unexpected response: {"r"=>["no t"]}')
    end
  end
end
