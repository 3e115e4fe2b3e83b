# frozen_string_literal: true
require "pp"

module RethinkDB
  # A stream returned by a synchronous `run`: Enumerable over its rows, which
  # come in batches (each further batch is asked for with CONTINUE ahead of use).
  class Cursor
    include Enumerable

    RT = Response::ResponseType

    def initialize(results, term, conn, opts, token, more)
      @results = results
      @term = term
      @conn = conn
      @conn_id = conn.conn_id
      @opts = opts
      @token = token
      @more = more
      @run = false
      fetch_batch
    end

    # Iterates once over every row (waiting for batches as needed).
    def each(&block)
      raise ReqlRuntimeError, "Can only iterate over a cursor once." if @run
      return enum_for(:each) unless block
      @run = true
      loop do
        @results.each(&block)
        return self unless @more
        raise ReqlRuntimeError, "Connection is closed." if out_of_date?
        wait_for_batch(nil)
      end
    end

    # The next row. `wait`: true waits forever, false/nil/0 not at all, a number
    # that many seconds; Timeout::Error when nothing came, StopIteration at the end.
    def next(wait = true)
      raise ReqlRuntimeError, "Cannot call `next` on a cursor after calling `each`." if @run
      raise ReqlRuntimeError, "Connection is closed." if @more && out_of_date?
      timeout = if wait == true then nil
                elsif !wait then 0
                else wait
                end
      while @results.empty?
        raise StopIteration unless @more
        wait_for_batch(timeout)
      end
      @results.shift
    end

    # Stops the stream on the server; true if it was still running.
    def close
      return false unless @more
      @more = false
      @conn.stop(@token)
      true
    end

    def inspect
      preview = @results[0...10]
      preview += [Ellipsis.new] if @results.size > 10 || @more
      state = @run ? "(exhausted)" : "(enumerable)"
      extra = out_of_date? ? " (Connection #{@conn.inspect} is closed.)" : ""
      "#<RethinkDB::Cursor:#{object_id} #{state}#{extra}: #{RPP.pp(@term)}" +
        (@run ? "" : "\n#{preview.pretty_inspect.chomp}") + ">"
    end

    # Prints as `...` in the preview of a cursor with more rows.
    class Ellipsis
      def inspect
        "..."
      end

      def pretty_print(q)
        q.text("...")
      end
    end

    private

    def out_of_date?
      @conn.conn_id != @conn_id || !@conn.open?
    end

    def wait_for_batch(timeout)
      res = @conn.wait(@token, timeout)
      @results = Responses.value(res, @term)
      if res["t"] == RT::SUCCESS_SEQUENCE
        @more = false
      else
        fetch_batch
      end
    end

    def fetch_batch
      @conn.continue_query(@token, @opts, :sync) if @more
    end
  end
end
