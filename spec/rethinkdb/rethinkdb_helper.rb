# frozen_string_literal: true
# Setup shared by the RethinkDB specs. They run on em_rust only (the client is
# part of em_rust); groups tagged :reqlite talk to a real reqlite server
# (spec/support/reqlite_server.rb) and are skipped when it is not installed.
#
# RETHINKDB_TRANSPORT=native|ruby picks the wire layer: the Rust
# RethinkDB::Native::Socket (default when the extension has it) or the
# pure-Ruby RubyReqlClient::Transport of bench/lib.
require "stringio"
require "json"

if ImplCheck.em_rust?
  require "em_rust/rethinkdb"
  require_relative "../../bench/lib/ruby_reql_client"
end

module RethinkDBSpec
  module_function

  def transport
    case ENV["RETHINKDB_TRANSPORT"]
    when "ruby" then RubyReqlClient::Transport
    when "native" then RethinkDB::Native::Socket
    else defined?(RethinkDB::Native::Socket) ? RethinkDB::Native::Socket : RubyReqlClient::Transport
    end
  end

  def connect(server = ReqliteServer.shared, **opts)
    RethinkDB::Connection.new({ host: "127.0.0.1", port: server.port, transport: transport }.merge(opts))
  end

  # The arguments each Handler callback a recorder may log takes.
  RECORDABLE = { open: [], close: [], val: [:val], wait_complete: [], change: %i[old_val new_val],
                 initial_val: [:val], uninitial_val: [:val], change_error: [:err], state: [:state],
                 unhandled_change: [:row], reconnect: [] }.freeze

  # A Handler that logs each callback of `kinds` as [kind, *args] (and on_error
  # as [:error, class, message]) to #log. The dispatcher looks at a callback's
  # arity, so each takes exactly its arguments. `extra` is the body of a
  # subclass: its methods override without a redefinition warning.
  def recorder(*kinds, &extra)
    base = Class.new(RethinkDB::Handler) do
      attr_reader :log

      def initialize
        super
        @log = []
      end

      def on_error(err) = @log << [:error, err.class, err.message]
      def count(kind) = @log.count { |entry| entry[0] == kind }
    end
    kinds.each do |kind|
      params = RECORDABLE.fetch(kind).join(", ")
      base.class_eval("def on_#{kind}(#{params}) = @log << [:#{kind}, #{params}]", __FILE__, __LINE__)
    end
    extra ? Class.new(base, &extra) : base
  end

  # A fresh `test` database holding an empty table `test` (reqlite starts without one).
  def reset_test_db(conn)
    r = RethinkDB::RQL.new
    begin
      r.db_drop("test").run(conn)
    rescue RethinkDB::ReqlRuntimeError
      nil
    end
    r.db_create("test").run(conn)
    r.db("test").table_create("test").run(conn)
  end

  # Helpers for examples.
  module Examples
    # What the block printed to $stdout.
    def capture_stdout
      saved = $stdout
      $stdout = StringIO.new
      yield
      $stdout.string
    ensure
      $stdout = saved
    end

    # Runs the reactor until `done` returns true (checked every 5 ms), then stops it.
    def em_until(done, timeout: 5)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      EM.add_periodic_timer(0.005) do
        if done.call
          EM.stop
        elsif Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          EM.stop
          raise "condition not met within #{timeout}s"
        end
      end
    end

    # Runs `block` inside EM.run; stops once every QueryHandle it returns is closed.
    def em_run_until_closed(timeout: 5, &block)
      handles = nil
      EM.run do
        handles = Array(block.call)
        em_until(-> { handles.all?(&:closed?) }, timeout: timeout)
      end
      handles
    end

    def wait_until(timeout: 5)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until yield
        raise "condition not met within #{timeout}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        sleep 0.005
      end
    end
  end

  # A transport that records what is sent and passes everything else on.
  class SpyTransport
    class << self
      attr_accessor :inner
    end

    def self.connect(*args)
      new(inner.connect(*args))
    end

    def initialize(inner)
      @inner = inner
      @log = []
    end

    def send_query(token, json)
      @log << [token, JSON.parse(json)]
      @inner.send_query(token, json)
    end

    def queries
      @log.dup
    end

    def read_response(timeout) = @inner.read_response(timeout)
    def close = @inner.close
    def closed? = @inner.closed?
  end

  # A transport with no server: records queries and lets the example push
  # responses. It attaches to the reactor the way Native::Socket does, so
  # responses reach Connection#dispatch_response on the reactor thread.
  class FakeTransport
    class << self
      attr_accessor :last
    end

    attr_reader :queries, :conn

    def self.connect(*)
      self.last = new
    end

    def initialize
      @queries = []
      @closed = false
      @conn = nil
      @pending = []
      @lock = Mutex.new
      @cond = ConditionVariable.new
    end

    def send_query(token, json)
      raise RethinkDB::ReqlDriverError, "Connection closed by server." if @closed
      @queries << [token, JSON.parse(json)]
    end

    # A response delivered with `respond` while no reactor is attached.
    def read_response(timeout)
      @lock.synchronize do
        @cond.wait(@lock, timeout) if @pending.empty? && timeout != 0
        @pending.shift
      end
    end

    def close
      @closed = true
    end

    def closed? = @closed

    def attach_reactor(conn)
      @conn = conn
    end

    def detach_reactor
      @conn = nil
    end

    def attached? = !@conn.nil?

    # Delivers a response: through the reactor when attached, else to a reader.
    def respond(token, response)
      response = JSON.parse(JSON.generate(response))
      if @conn
        @conn.dispatch_response(token, response)
      else
        @lock.synchronize do
          @pending << [token, response]
          @cond.broadcast
        end
      end
    end

    # A response the socket holds: what `read_response` returns next.
    def respond_directly(token, response)
      @lock.synchronize do
        @pending << [token, JSON.parse(JSON.generate(response))]
        @cond.broadcast
      end
    end

    def lose(message = "Connection closed by server.")
      @closed = true
      @conn&.connection_lost(RethinkDB::ReqlDriverError.new(message))
    end

    def last_token
      @queries.map(&:first).max
    end
  end
end

RSpec.configure do |config|
  config.before(:context, :rethinkdb) do
    skip("the RethinkDB client is part of em_rust (EM_IMPL=#{EM_IMPL})") unless ImplCheck.em_rust?
  end
  config.before(:context, :reqlite) do
    reason = ReqliteServer.unavailable_reason
    skip(reason) if reason
  end
  config.include RethinkDBSpec::Examples, :rethinkdb
  config.include RethinkDB::Shortcuts, :rethinkdb if ImplCheck.em_rust?
end
