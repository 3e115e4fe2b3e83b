# frozen_string_literal: true
# EM.fork_workers: N reactor processes serving one port (SO_REUSEPORT), supervised
# by the calling process (docs/SCALING.md).
module EventMachine
  class << self
    # em_rust's own: runs `n` worker processes, each calling the block with its
    # index (0...n), typically `EM.run { EM.start_server(host, port, H, reuse_port:
    # true) }`, so that n reactors share one port (docs/SCALING.md). The calling
    # process supervises: a worker that exits or dies is started again (after
    # `restart_delay` seconds); SIGTERM or SIGINT to it sends SIGTERM to every
    # worker, reaps them all and returns. A worker stops its reactor on SIGTERM
    # (or exits, if none runs). Call it outside EM.run.
    def fork_workers(n, restart_delay: 0.1, &block)
      raise ArgumentError, "EM.fork_workers needs a block" unless block
      raise ArgumentError, "EM.fork_workers needs at least one worker" unless Integer(n) >= 1
      raise RuntimeError, "EM.fork_workers: call it outside EM.run" if reactor_running?

      workers = {} # pid => index
      stopping = false
      supervisor = Process.pid
      stop_all = proc do
        # A worker forked a moment ago may still run this inherited trap.
        next unless Process.pid == supervisor

        stopping = true
        workers.each_key { |pid| Process.kill(:TERM, pid) rescue nil } # rubocop:disable Style/RescueModifier
      end
      old_traps = %i[TERM INT].to_h { |sig| [sig, trap(sig) { stop_all.call }] }
      start = lambda do |index|
        pid = fork_worker(index, block)
        workers[pid] = index
        Process.kill(:TERM, pid) if stopping # the stop came between the fork and the line above
      end
      Integer(n).times(&start)
      until workers.empty?
        pid, = Process.wait2(-1)
        index = workers.delete(pid) or next
        next if stopping

        sleep(restart_delay)
        stopping ? nil : start.call(index)
      end
      nil
    ensure
      old_traps&.each { |sig, handler| trap(sig, handler || "DEFAULT") }
      if workers && !workers.empty? # left by an exception: no worker outlives us, none stays a zombie
        workers.each_key { |pid| Process.kill(:TERM, pid) rescue nil } # rubocop:disable Style/RescueModifier
        workers.each_key { |pid| Process.wait(pid) rescue nil } # rubocop:disable Style/RescueModifier
      end
    end

    private

    def fork_worker(index, block)
      Kernel.fork do
        status = 0
        begin
          trap(:INT, "DEFAULT")
          trap(:TERM) { reactor_running? ? stop : exit }
          block.call(index)
        rescue SystemExit => e
          status = e.status
        rescue Exception => e # rubocop:disable Lint/RescueException -- reported, then the worker exits
          warn "EM.fork_workers: worker #{index} (pid #{Process.pid}) died: #{e.class}: #{e.message}"
          status = 1
        end
        $stdout.flush
        $stderr.flush
        exit!(status)
      end
    end
  end
end
