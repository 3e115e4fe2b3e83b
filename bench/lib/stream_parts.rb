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

module Bench
  # Streams TOTAL bytes from a Source to a Sink in this reactor and reports MB/s;
  # `info` adds benchmark-specific details (it may read the final state).
  def self.run_stream(what, sink, source, state = { received: 0, reads: 0, ticks: 0, max_outbound: 0 })
    EM.epoll
    EM.run do
      em_deadline(TIMEOUT * 0.8, what)
      port = server_port(EM.start_server(HOST, 0, sink, state))
      EM.connect(HOST, port, source, state)
    end
    raise "received #{state[:received]} of #{TOTAL} bytes" unless state[:received] == TOTAL

    elapsed = state[:t1] - state[:t0]
    report({ mb_per_s: { value: TOTAL / elapsed / 1e6, unit: "MB/s", better: "higher", label: "throughput" } },
           { bytes: TOTAL, chunk_bytes: CHUNK_BYTES, threshold_bytes: THRESHOLD, elapsed_s: elapsed,
             receive_data_calls: state[:reads], pump_ticks: state[:ticks], max_outbound_bytes: state[:max_outbound],
             **(block_given? ? yield(state) : {}), **cpu_spent(state[:cpu0], state[:cpu1]) })
  end
end
