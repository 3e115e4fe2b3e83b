# frozen_string_literal: true
# The two ends of bench/stream.rb and bench/tls_stream.rb: a sink that counts what
# receive_data gets, and a source that sends CHUNK while get_outbound_data_size is
# below THRESHOLD, then re-arms itself with next_tick (EM's flow-control idiom).
# TOTAL, CHUNK, CHUNK_BYTES and THRESHOLD come from the benchmark file.
module StreamSink
  def initialize(state)
    super()
    @state = state
  end

  def receive_data(data)
    st = @state
    st[:received] += data.bytesize
    st[:reads] += 1
    return if st[:received] < TOTAL
    raise "received #{st[:received]} bytes, more than the #{TOTAL} sent" if st[:received] > TOTAL

    st[:t1] ||= Bench.now
    st[:cpu1] ||= Bench.cpu
    EM.stop
  end
end

module StreamSource
  def initialize(state)
    super()
    @state = state
    @sent = 0
    @pump = method(:pump)
  end

  # Starts the clock and the sending.
  def start_pumping
    @state[:t0] = Bench.now
    @state[:cpu0] = Bench.cpu
    pump
  end

  def pump
    while @sent < TOTAL && get_outbound_data_size < THRESHOLD
      send_data(CHUNK)
      @sent += CHUNK_BYTES
    end
    @state[:max_outbound] = [@state[:max_outbound] || 0, get_outbound_data_size].max
    @state[:ticks] += 1
    EM.next_tick(@pump) if @sent < TOTAL
  end

  def unbind
    raise "stream connection closed after #{@state[:received]} of #{TOTAL} bytes" unless @state[:t1]
  end
end
