# frozen_string_literal: true
require "json"
require "pp"
require "timeout"

module RethinkDB
  # A connection to a RethinkDB server: `r.connect(host:, port:, db:, user:,
  # password:, timeout:, ssl:)`, or to the first of several that answers with
  # `hosts: [[host, port], ...]` (reconnecting after a loss: see Failover).
  # Many queries share it, each under its own token:
  # synchronous `run`s from any thread, and em_run queries on the reactor.
  #
  # The bytes go through a transport object (RethinkDB::Native::Socket, the
  # Rust wire protocol): `Transport.connect(host, port, user, password,
  # timeout)`, `#send_query(token, json)`, `#read_response(timeout)` ->
  # `[token, Hash]` or nil on timeout, `#close`, `#closed?`.
  #
  # Responses reach their query in one of two ways:
  # - synchronous waiters read the transport themselves, one reader at a time,
  #   and hand what is not theirs to its owner;
  # - while em_run queries are open, a pump (see ReactorPump, ThreadPump) feeds
  #   every response to #dispatch_response on the reactor thread.
  #
  # A transport may also offer `#auto_continue(token, on)`: it then sends the
  # CONTINUE of an em_run stream itself as soon as a partial batch is read, and
  # says so with a third element, `[token, Hash, true]`.
  class Connection
    include Failover

    QT = Query::QueryType
    RT = Response::ResponseType

    DEFAULT_HOST = "localhost"
    DEFAULT_PORT = 28015
    DEFAULT_TIMEOUT = 20
    TIMEOUT_MESSAGE = "Timed out waiting for cursor response."

    @last = nil
    @default_transport = nil

    class << self
      # The transport class for new connections (RethinkDB::Native::Socket unless set).
      attr_writer :default_transport

      def default_transport
        @default_transport || (Native::Socket if defined?(Native::Socket)) ||
          raise(ReqlDriverError, "No RethinkDB transport: this build of em_rust has no RethinkDB::Native::Socket.")
      end

      # Whether the current fiber is one of Fiber.schedule / EM.fiber on the
      # reactor thread: a synchronous `run` there waits for the reactor to deliver
      # its response. A callback in a pool fiber (EM.callbacks_in_fibers) reads the
      # socket itself, as without fibers: the socket watch's next callback would
      # wait behind the suspended one (one connection's callbacks run in order).
      def scheduled_fiber?
        return false unless defined?(EM::FiberScheduler) && EM.reactor_running? && EM.reactor_thread?

        scheduler = Fiber.scheduler
        scheduler.is_a?(EM::FiberScheduler) && scheduler.scheduled?
      end

      # The most recently created connection.
      def last
        @last or raise ReqlRuntimeError, "No last connection.  Use RethinkDB::Connection.new."
      end

      attr_writer :last
    end

    attr_reader :host, :port, :default_db, :conn_id

    def initialize(opts = {})
      opts = { host: opts } if opts.is_a?(String)
      raise ArgumentError, "Connection options must be a Hash (got #{opts.inspect})." unless opts.is_a?(Hash)
      opts = opts.transform_keys(&:to_sym)
      @hosts = Hosts.parse(opts, DEFAULT_HOST, DEFAULT_PORT)
      @host_index = 0
      @host, @port = @hosts[0]
      # Reconnecting is on by default with several hosts.
      @backoff = Backoff.from_option(opts.fetch(:reconnect) { @hosts.size > 1 || nil })
      @default_db = opts[:db]
      @user = opts[:user] || "admin"
      raise ReqlDriverError, "Cannot specify both a password and an auth key." if opts[:password] && opts[:auth_key]
      @password = opts[:password] || opts[:auth_key] || ""
      @timeout = opts[:timeout].to_f
      @timeout = DEFAULT_TIMEOUT if @timeout <= 0
      @tls = tls_option(opts[:ssl])
      @transport_class = opts[:transport] || Connection.default_transport
      @default_opts = @default_db ? { db: RQL.new.db(@default_db) } : {}
      @conn_id = 0
      @token_lock = Mutex.new
      @last_token = 0
      @lock = Mutex.new
      @cond = ConditionVariable.new
      @transport = nil
      @resuming = [] # em_run feeds (resume: true) waiting for the next connection
      @reconnecting = false
      @generation = 0
      @lost_message = nil
      Connection.last = self
      connect
    end

    # Opens the socket and shakes hands (after `close`; `new` does it).
    def connect
      raise RuntimeError, "Connection must be closed before calling connect." if @transport
      @waiters = {} # token => :sync or QueryHandle
      @opts = {}    # token => the query's options (pseudo-type formats)
      @results = {} # token => response, for synchronous waiters
      @reader = nil # the thread reading the transport for synchronous waiters
      @pump = nil
      @lost = false
      @transport, @host_index = open_first(0)
      @host, @port = @hosts[@host_index]
      @conn_id += 1
      self
    end

    # `ssl:` as the official driver takes it: nil for none; a Hash, with
    # `ca_certs:` a PEM file of the CAs to trust (else the system's store).
    # The server's certificate is verified, its name against the host.
    def tls_option(ssl)
      return nil if ssl.nil? || ssl == false
      raise ArgumentError, "ssl: must be a Hash such as { ca_certs: \"ca.pem\" } (got #{ssl.inspect})." unless ssl.is_a?(Hash)

      ssl = ssl.transform_keys(&:to_sym)
      unknown = ssl.keys - [:ca_certs]
      raise ArgumentError, "ssl: unknown option(s) #{unknown.map(&:inspect).join(', ')} (known: :ca_certs)." unless unknown.empty?

      path = ssl[:ca_certs]
      return true if path.nil?

      path = path.to_s
      raise ReqlDriverError, "ssl: ca_certs file #{path.inspect} does not exist or is not readable." unless File.file?(path) && File.readable?(path)

      path
    end
    private :tls_option

    def open?
      !@transport.nil? && !@lost && !@transport.closed?
    end
    alias is_open open?

    def closed?
      !open?
    end

    # Queries without a db use this database.
    def use(db)
      @default_db = db
      @default_opts[:db] = RQL.new.db(db)
    end

    # Makes this the connection of `query.run` / `query.em_run` without one.
    def repl
      RQL.set_default_conn(self)
    end

    # Reopen the connection when a query is run on it after it closed.
    def auto_reconnect(enabled = true)
      @auto_reconnect = enabled
      self
    end

    def reconnect(opts = {})
      raise ArgumentError, "Argument to reconnect must be a hash." unless opts.is_a?(Hash)
      close(opts)
      connect
    end

    # Closes the connection: open em_run queries get on_error("Connection is
    # closed.") and on_close, synchronous waiters raise. With noreply_wait (the
    # default) it first waits for noreply writes.
    def close(opts = {})
      EM_Guard.unregister(self)
      raise ArgumentError, "Argument to close must be a hash." unless opts.is_a?(Hash)
      unknown = opts.keys - [:noreply_wait]
      raise ArgumentError, "close does not understand these options: #{unknown}" unless unknown.empty?
      resuming = take_resuming
      handles = resuming + @lock.synchronize do
        @opts.clear
        @results.clear
        open_handles = @waiters.values.grep(QueryHandle)
        @waiters.clear
        @cond.broadcast
        open_handles
      end
      begin
        handles.each(&:handle_force_close)
        noreply_wait if opts.fetch(:noreply_wait, true) && open?
      ensure
        stop_pump
        transport = @transport
        @transport = nil
        transport&.close
      end
      self
    end

    # Waits until the server has processed every noreply query.
    def noreply_wait
      control_query(QT::NOREPLY_WAIT, RT::WAIT_COMPLETE, "noreply_wait")
      nil
    end

    # The server in use: its {"id", "name", "proxy"}, plus the "host" and
    # "port" this connection reached it at.
    def server
      info = control_query(QT::SERVER_INFO, RT::SERVER_INFO, "server_info")["r"][0]
      info.merge("host" => @host, "port" => @port)
    end

    # The hosts this connection may use, as [[host, port], ...].
    def hosts
      @hosts.map(&:dup)
    end

    # The reconnect settings (nil: it does not reconnect by itself).
    def reconnect_options
      @backoff&.to_h
    end

    # The local port of the socket (nil when closed).
    def client_port
      open? && @transport.respond_to?(:local_port) ? @transport.local_port : nil
    end

    def inspect
      db = @default_opts[:db] || RQL.new.db("test")
      "#<RethinkDB::Connection:#{object_id} (#{@host}:#{@port}) (Default DB: #{db.inspect}) " \
        "(#{open? ? 'open' : 'closed'})>"
    end

    # Runs `term` (a term body) with `opts`. With a Handler: registers a
    # QueryHandle and returns it (em_run). Otherwise waits and returns the value
    # (a Cursor for a stream), or calls `block` with it.
    # `resume`: an em_run changefeed that survives a reconnect (see Failover).
    def run(term, opts, callback, resume: false)
      # A connection lost while reconnecting by itself (reconnect:) is left to the
      # backoff (reconnect_for_run): reopening it here would close the feeds
      # waiting to resume and skip the backoff and the other hosts.
      reconnect(noreply_wait: false) if @auto_reconnect && !open? && !(@backoff && @transport)
      reconnect_for_run
      raise ReqlRuntimeError, "Connection is closed." unless open?

      all_opts = @default_opts.merge(opts)
      all_opts[:noreply] = !!all_opts[:noreply] if all_opts.key?(:noreply)
      # The documented `run(conn, db: 'name')`: the server wants a db term there.
      all_opts[:db] = RQL.new.db(all_opts[:db].to_s) if all_opts[:db].is_a?(String) || all_opts[:db].is_a?(Symbol)
      token = new_token
      query = start_query(term, all_opts)

      if callback.is_a?(Handler)
        handle = QueryHandle.new(callback, term, all_opts, token, self, resume: resume)
        start_pump
        register(token, all_opts, handle) or raise ReqlRuntimeError, "Connection is closed."
        auto_continue(token, true) unless all_opts[:noreply]
        send_awaited(token, query, all_opts)
        return handle
      end

      res = run_internal(query, all_opts, token)
      return res unless res
      value = synchronous_value(res, term, all_opts, token)
      value = { "profile" => res["p"], "value" => value } if res["p"]
      return value unless callback
      begin
        callback.call(value)
      ensure
        value.close if value.is_a?(Cursor)
      end
    end

    # --- the reactor side: what a pump calls, on the reactor thread ---------

    # Hands one response to whoever waits for `token`: an em_run QueryHandle
    # (called now), a synchronous waiter (woken), or nobody (dropped).
    def dispatch_response(token, response, continued = false)
      receive(token, response, continued, direct: true)
    end

    # The transport failed (EOF, read error, bad frame): every waiting query
    # gets `{t: CLIENT_ERROR, r: [message]}` and the connection is closed.
    def connection_lost(error, transport = @transport)
      lose_connection(error, transport)
    end

    # --- used by QueryHandle, Cursor and EM_Guard -----------------------------

    def new_token
      @token_lock.synchronize { @last_token += 1 }
    end

    # Sends STOP for `token`; true if a query was still waiting on it.
    def stop(token)
      send_stop(token)
      waiting = @lock.synchronize do
        @opts.delete(token)
        @waiters.delete(token)
      end
      !!waiting
    end

    # Asks for the next batch of a stream (unless the transport already did:
    # `sent`); the response goes to `waiter`. False if the connection has been
    # lost: nothing will come.
    def continue_query(token, opts, waiter, sent: false)
      return false unless register(token, opts, waiter)
      send_awaited(token, [QT::CONTINUE], opts) unless sent
      true
    end

    # Waits for the response to `token` (nil timeout: forever). Raises
    # Timeout::Error after `timeout` seconds, ReqlRuntimeError if the
    # connection closes first.
    def wait(token, timeout)
      start_pump if Connection.scheduled_fiber?
      deadline = timeout && (monotonic + timeout)
      loop do
        read_timeout = nil
        @lock.synchronize do
          loop do
            return @results.delete(token) if @results.key?(token)
            raise ReqlRuntimeError, "Connection is closed." if !open? || !@waiters.key?(token)
            remaining = deadline && (deadline - monotonic)
            if @reader.nil? && !@pump&.delivers_for?(Thread.current)
              @reader = Thread.current
              read_timeout = remaining && [remaining, 0].max
              break
            end
            raise Timeout::Error, TIMEOUT_MESSAGE if remaining && remaining <= 0
            wait_for_delivery(remaining)
          end
        end
        next if read_one(read_timeout) || !deadline || monotonic < deadline
        @lock.synchronize { return @results.delete(token) if @results.key?(token) }
        raise Timeout::Error, TIMEOUT_MESSAGE
      end
    end

    # EM_Guard's shutdown hook: force-closes the open em_run queries (STOP to
    # the server, on_error + on_close to the handler) and stops the pump.
    def remove_em_waiters
      resuming = take_resuming.map { |handle| [handle.token, handle] }
      handles = resuming + @lock.synchronize do
        taken = @waiters.select { |_token, waiter| waiter.is_a?(QueryHandle) }
        taken.each_key do |token|
          @waiters.delete(token)
          @opts.delete(token)
        end
        taken.to_a
      end
      failure = nil
      handles.each do |token, handle|
        send_stop(token)
        begin
          handle.handle_force_close
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
          failure ||= e
        end
      end
      stop_pump
      raise failure if failure
    end

    # For a pump that reads on its own thread: wait until no synchronous
    # waiter is reading, then read for everyone.
    def acquire_reader
      @lock.synchronize do
        @cond.wait(@lock, 0.1) until @reader.nil? || !open?
        @reader = Thread.current
      end
    end

    def release_reader
      @lock.synchronize do
        @reader = nil if @reader.equal?(Thread.current)
        @cond.broadcast
      end
    end

    # A response read outside the reactor (by a synchronous waiter or a pump
    # thread): em_run queries get it on the reactor thread, in a tick of its own.
    def receive_later(token, response, continued = false)
      receive(token, response, continued, direct: false)
    end

    def send_query(token, query)
      transport = @transport
      raise ReqlRuntimeError, "Connection is closed." unless transport
      transport.send_query(token, JSON.generate(query, max_nesting: false))
    end

    private

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    # Waits (holding @lock) to be woken by a delivery. In a scheduled fiber
    # this suspends the fiber; Ruby 3.1 does not take the lock back when that
    # wait raises (the reactor stopping, Timeout), so it is taken here.
    def wait_for_delivery(remaining)
      @cond.wait(@lock, remaining)
    rescue Exception # rubocop:disable Lint/RescueException -- re-raised
      @lock.lock unless @lock.owned?
      raise
    end

    def start_query(term, opts)
      [QT::START, term, opts.to_h { |k, v| [k.to_s, Expr.body(v)] }]
    end

    # A query without a term (NOREPLY_WAIT, SERVER_INFO); raises unless the
    # response has the `expected` type.
    def control_query(type, expected, name)
      raise ReqlRuntimeError, "Connection is closed." unless open?
      res = run_internal([type], { noreply: false }, new_token)
      raise ReqlRuntimeError, "Unexpected response to #{name}: #{res.pretty_inspect}" unless res["t"] == expected
      res
    end

    # Sends a query whose waiter is registered. When the connection is lost
    # while it goes out (another thread read a bad response and closed it), the
    # waiter, registered before the loss, gets that loss: the failed write is
    # not raised on top of it.
    def send_awaited(token, query, opts)
      send_query(token, query)
    rescue ReqlDriverError
      raise if opts[:noreply] || !@lost
    end

    def send_stop(token)
      auto_continue(token, false)
      send_query(token, [QT::STOP]) if open?
    rescue ReqlDriverError
      nil
    end

    def auto_continue(token, on)
      transport = @transport
      transport.auto_continue(token, on) if transport.respond_to?(:auto_continue)
    end

    # Makes `waiter` the one that gets the response to `token`; false if the
    # connection has been lost (the loss has been handed to every waiter already).
    def register(token, opts, waiter)
      return true if opts[:noreply]
      @lock.synchronize do
        return false if @lost
        raise ReqlDriverError, "Internal driver error, token already in use." if @waiters.key?(token)
        @waiters[token] = waiter
        @opts[token] = opts
      end
      true
    end

    def run_internal(query, opts, token)
      register(token, opts, :sync) or raise ReqlRuntimeError, "Connection is closed."
      send_awaited(token, query, opts)
      opts[:noreply] ? nil : wait(token, nil)
    end

    def synchronous_value(res, term, opts, token)
      case res["t"]
      when RT::SUCCESS_PARTIAL then Cursor.new(Responses.value(res, term), term, self, opts, token, true)
      when RT::SUCCESS_SEQUENCE then Cursor.new(Responses.value(res, term), term, self, opts, token, false)
      else Responses.value(res, term)
      end
    end

    # Reads one response as the synchronous reader and routes it; false if
    # none came within `timeout`.
    def read_one(timeout)
      transport = @transport
      pair = begin
        raise ReqlDriverError, "Connection is closed." unless transport
        transport.read_response(timeout)
      rescue ReqlError, IOError, SystemCallError => e
        release_reader
        lose_connection(e, transport)
        return true
      end
      release_reader
      return false unless pair
      receive(pair[0], pair[1], pair[2], direct: false)
      true
    end

    # Every response passes here once: a token no query used, or a response
    # of the wrong shape (Responses.check!, which also decodes the rows'
    # pseudo-types), closes the connection with a ReqlDriverError.
    def receive(token, response, continued, direct:)
      unless token.between?(1, @last_token)
        message = "Bad response from server: a response for token #{token}, which no query on this connection used."
        return lose_connection(ReqlDriverError.new(message), @transport)
      end
      begin
        Responses.check!(token, response, @lock.synchronize { @opts[token] })
      rescue ReqlDriverError => e
        return lose_connection(e, @transport)
      end
      handle = @lock.synchronize do
        @opts.delete(token)
        waiter = @waiters.delete(token)
        if waiter.equal?(:sync)
          @results[token] = response
          @cond.broadcast
          nil
        else
          waiter
        end
      end
      return unless handle
      direct ? handle.callback(response, continued) : deliver_later(handle, response, continued)
    end

    def deliver_later(handle, response, continued = false)
      if EM.reactor_running?
        EM.next_tick { handle.callback(response, continued) }
      else
        handle.callback(response, continued)
      end
    end

    # `transport` is the one that failed: nothing to do if the connection has
    # been closed or reopened since.
    def lose_connection(error, transport)
      message = error.is_a?(Exception) ? error.message : error.to_s
      handles = @lock.synchronize do
        return if @lost || transport.nil? || !transport.equal?(@transport)
        @lost = true
        @lost_message = message
        lost = []
        resuming = []
        @waiters.each do |token, waiter|
          if waiter.equal?(:sync)
            @results[token] = lost_response(message)
          elsif @backoff && waiter.resume?
            resuming << waiter
          else
            lost << waiter
          end
        end
        @waiters.clear
        @opts.clear
        @cond.broadcast
        [lost, resuming]
      end
      begin
        transport.close
      rescue StandardError
        nil
      end
      lost, resuming = handles
      lost.each { |handle| deliver_later(handle, lost_response(message)) }
      after_loss(resuming, message) if @backoff
    end

    def lost_response(message)
      { "t" => RT::CLIENT_ERROR, "r" => [message], "b" => [] }
    end

    # em_run needs responses delivered on the reactor: the reactor itself
    # watches the socket when the transport supports it, else a thread does.
    def start_pump
      pump = @lock.synchronize do
        return if @pump
        @pump = (@transport.respond_to?(:attach_reactor) ? ReactorPump : ThreadPump).new(self, @transport)
      end
      pump.start
    end

    def stop_pump
      pump = @lock.synchronize do
        taken = @pump
        @pump = nil
        @cond.broadcast
        taken
      end
      pump&.stop
    end
  end
end
