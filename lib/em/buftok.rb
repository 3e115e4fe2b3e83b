# frozen_string_literal: true

# Splits a byte stream that arrives in arbitrary pieces into delimited tokens.
# Feed it whatever the socket delivered with #extract and get back the tokens
# completed by that piece; the unterminated rest waits for the next piece. A
# delimiter may itself arrive split across pieces.
#
#   tok = BufferedTokenizer.new("\r\n")
#   tok.extract("GET / HT")        # => []
#   tok.extract("TP/1.1\r\nHost") # => ["GET / HTTP/1.1"]
#   tok.flush                      # => "Host"
#
# With a size limit, a token (or the unterminated rest) longer than the limit
# makes #extract raise BufferedTokenizer::Overflow (a RuntimeError, "input buffer
# full", as EventMachine's) after dropping what was too long, so a peer cannot make
# the buffer grow without bound; the valid tokens completed by the same piece are
# not lost: they are in the exception's #tokens. Without a limit (EventMachine's
# default) the buffer is unbounded.
class BufferedTokenizer
  # "input buffer full"; #tokens holds the valid tokens of the same #extract.
  class Overflow < RuntimeError
    attr_reader :tokens

    def initialize(tokens)
      @tokens = tokens
      super("input buffer full")
    end
  end

  # @param delimiter [String] token separator; defaults to $/ ("\n")
  # @param size_limit [Integer, nil] longest token accepted, in bytes
  def initialize(delimiter = $/, size_limit = nil)
    @delimiter = String(delimiter).b
    raise ArgumentError, "the delimiter must not be empty" if @delimiter.empty?

    @size_limit = size_limit
    @pending = String.new(encoding: Encoding::BINARY)
  end

  # Appends +data+ and returns the tokens it completed, delimiters removed, in
  # the encoding +data+ came in (two delimiters in a row give an empty token).
  # @return [Array<String>]
  def extract(data)
    encoding = data.encoding
    # A delimiter could start in the bytes already held: look a little back.
    from = @pending.bytesize - @delimiter.bytesize + 1
    from = 0 if from.negative?
    @pending << (data.encoding == Encoding::BINARY ? data : data.b)

    tokens = []
    start = 0
    while (at = @pending.index(@delimiter, from))
      tokens << @pending.byteslice(start, at - start)
      start = at + @delimiter.bytesize
      from = start
    end
    @pending = @pending.byteslice(start, @pending.bytesize - start) unless start.zero?

    tokens.each { |t| t.force_encoding(encoding) }
    check_limit(tokens) if @size_limit
    tokens
  end

  # Returns whatever is held (an unterminated token) and empties the buffer.
  # @return [String]
  def flush
    held = @pending
    @pending = String.new(encoding: Encoding::BINARY)
    held
  end

  # True when nothing is held.
  def empty?
    @pending.empty?
  end

  # Bytes held, waiting for a delimiter.
  def size
    @pending.bytesize
  end

  private

  def check_limit(tokens)
    valid = tokens.reject { |t| t.bytesize > @size_limit }
    return if valid.size == tokens.size && @pending.bytesize <= @size_limit

    @pending = String.new(encoding: Encoding::BINARY) if @pending.bytesize > @size_limit
    raise Overflow, valid
  end
end
