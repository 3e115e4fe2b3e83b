# frozen_string_literal: true
# EventMachine's signature-level connection functions (the names EM's C extension
# exports, which gems such as thin call directly), delegating to the Machine.
module EventMachine
  DEFAULT_HEARTBEAT = 2.0
  @heartbeat_interval = DEFAULT_HEARTBEAT

  class << self
    # send_data(sig, data, size) is native (ruby_api/event_machine.rs): the hot path.

    def send_datagram(sig, data, _size, host, port)
      machine!("evma_send_datagram").send_datagram(sig, data.to_s, host.to_s, Integer(port))
    rescue SystemCallError, RuntimeError
      raise ConnectionError, "error in sending datagram"
    end

    def close_connection(sig, after_writing)
      machine!("evma_close_connection").close_connection(sig, after_writing ? true : false)
    end

    # Forgets the descriptor without closing it; returns the fd (no unbind).
    # The IO stays open (and is not closed by the unbind that follows).
    def detach_fd(sig)
      fd = machine!("evma_detach_fd").detach_fd(sig)
      conn = @conns[sig]
      conn.remove_instance_variable(:@io) if conn&.instance_variable_defined?(:@io)
      fd
    end

    def get_peername(sig) = machine!("evma_get_peername").peername(sig)
    def get_sockname(sig) = machine!("evma_get_sockname").sockname(sig)
    def get_idle_time(sig) = machine!("evma_get_idle_time").idle_time(sig)
    def get_outbound_data_size(sig) = machine!("evma_get_outbound_data_size").outbound_data_size(sig)
    def get_file_descriptor(sig) = machine!("evma_get_file_descriptor").file_descriptor(sig)
    def pause_connection(sig) = machine!("evma_pause").pause_connection(sig)
    def resume_connection(sig) = machine!("evma_resume").resume_connection(sig)
    def connection_paused?(sig) = machine!("evma_is_paused").connection_paused?(sig)
    def get_comm_inactivity_timeout(sig) = machine!("evma_get_comm_inactivity_timeout").comm_inactivity_timeout(sig)
    def get_pending_connect_timeout(sig) = machine!("evma_get_pending_connect_timeout").pending_connect_timeout(sig)

    def set_comm_inactivity_timeout(sig, seconds)
      machine!("evma_set_comm_inactivity_timeout").set_comm_inactivity_timeout(sig, seconds.to_f)
    end

    def set_pending_connect_timeout(sig, seconds)
      machine!("evma_set_pending_connect_timeout").set_pending_connect_timeout(sig, seconds.to_f)
    end

    # EM's heartbeat (seconds; 2.0 at the start of every run). EM checks inactivity
    # and pending-connect timeouts once per heartbeat; em_rust checks each one at its
    # own expiry, so here the interval only matters below 50 ms: it then shortens
    # the retry of a listener that ran out of file descriptors.
    def heartbeat_interval
      machine!("evma_get_heartbeat_interval")
      @heartbeat_interval
    end
    alias get_heartbeat_interval heartbeat_interval

    # Zero or negative values are ignored, as in EM.
    def heartbeat_interval=(seconds)
      set_heartbeat_interval(seconds.to_f)
    end

    # True if the interval was accepted.
    def set_heartbeat_interval(seconds)
      machine!("evma_set_heartbeat_interval")
      return false unless seconds.positive?
      @heartbeat_interval = seconds
      @machine.heartbeat = seconds
      true
    end

    # EM's select() quantum in ms (5..300000). Kept for compatibility: em_rust's
    # timers wake the loop at their deadline, whatever the quantum.
    def set_quantum(milliseconds)
      set_timer_quantum(milliseconds.to_i)
      nil
    end

    def set_timer_quantum(milliseconds)
      machine!("evma_set_timer_quantum")
      raise ArgumentError, "invalid timer quantum: #{milliseconds} (must be 5..300000 ms)" unless (5..300_000).cover?(milliseconds)
      @quantum = milliseconds
    end

    def get_sock_opt(sig, level, option) = machine!("evma_get_sock_opt").get_sock_opt(sig, level, option)
    def set_sock_opt(sig, level, option, value) = machine!("evma_set_sock_opt").set_sock_opt(sig, level, option, value)

    def enable_keepalive(sig, idle = 0, interval = 0, count = 0)
      machine!("evma_enable_keepalive").enable_keepalive(sig, idle.to_i, interval.to_i, count.to_i)
    end

    def disable_keepalive(sig) = machine!("evma_disable_keepalive").disable_keepalive(sig)

    def set_notify_readable(sig, mode)
      watch_only!(sig, "notify_readable")
      machine!("evma_set_notify_readable").set_notify_readable(sig, mode ? true : false)
    end

    def set_notify_writable(sig, mode)
      watch_only!(sig, "notify_writable")
      machine!("evma_set_notify_writable").set_notify_writable(sig, mode ? true : false)
    end

    def is_notify_readable(sig) = machine!("evma_is_notify_readable").notify_readable?(sig)
    def is_notify_writable(sig) = machine!("evma_is_notify_writable").notify_writable?(sig)

    def is_watch_only(sig)
      return true if @watch_sigs.key?(sig)
      conn = @conns[sig]
      conn ? conn.instance_variable_get(:@watch_mode) == true : false
    end

    # Errno of the connection's failure, 0 if none (EM's error? probe).
    def report_connection_error_status(sig)
      @machine&.known?(sig) ? 0 : -1
    end

    def start_proxy(from, to, bufsize = 0, length = 0)
      machine!("evma_start_proxy").start_proxy(from, to, bufsize.to_i, length.to_i)
    end

    def stop_proxy(from) = machine!("evma_stop_proxy").stop_proxy(from)
    def get_proxied_bytes(from) = machine!("evma_get_proxied_bytes").proxied_bytes(from)

    def enable_proxy(from, to, bufsize = 0, length = 0)
      start_proxy(from.signature, to.signature, bufsize, length)
    end

    def disable_proxy(from)
      stop_proxy(from.signature)
    end

    # Connections whose close is scheduled and not yet done.
    def num_close_scheduled = machine!("evma_num_close_scheduled").num_close_scheduled

    # Connections a listener accepts per readiness; kept across runs, as in EM.
    def get_simultaneous_accept_count = @simultaneous_accept_count

    def set_simultaneous_accept_count(count)
      count = Integer(count)
      raise ArgumentError, "simultaneous accept count must be positive (got #{count})" unless count.positive?
      @simultaneous_accept_count = count
      @machine&.simultaneous_accept_count = count
      count
    end

    # Sends a whole file now (EM's limit: 32 KiB; larger files: stream_file_data).
    # Returns 0, as EM does.
    def send_file_data(sig, filename)
      data = begin
        File.binread(filename)
      rescue SystemCallError => e
        raise IOError, "#{filename}: #{e.message}"
      end
      raise RuntimeError, "file too large to send_file_data: #{filename} (#{data.bytesize} bytes > 32768)" if data.bytesize > 32 * 1024
      send_data(sig, data)
      0
    end
    alias send_file_data_to_connection send_file_data

    private

    def watch_only!(sig, what)
      return if is_watch_only(sig)
      raise RuntimeError, "#{what} is only for EM.watch connections"
    end
  end
end
