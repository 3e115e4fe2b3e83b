# frozen_string_literal: true

module EventMachine
  # A child process run with EM.popen whose whole output is the outcome: the
  # Deferrable succeeds with it (a String) once the process has closed its
  # output, whatever its exit status.
  #
  #   EM::DeferrableChildProcess.open("ls -l").callback { |out| puts out }
  class DeferrableChildProcess < EventMachine::Connection
    include EventMachine::Deferrable

    # Starts +cmd+ (a String, split like a shell would, or an Array).
    # @return [DeferrableChildProcess]
    def self.open(cmd)
      EventMachine.popen(cmd, self)
    end

    def initialize(*)
      super
      @data = []
    end

    def receive_data(data)
      @data << data
    end

    def unbind
      succeed(@data.join)
    end
  end

  # @private The handler behind EM.system.
  class SystemCmd < EventMachine::Connection
    def initialize(cb)
      super()
      @cb = cb
      @output = []
    end

    def receive_data(data)
      @output << data
    end

    def unbind
      @cb&.call(@output.join, get_status)
    end
  end

  # Runs a command without blocking the reactor and calls back with its
  # output and Process::Status once it has finished:
  #
  #   EM.system("ls", "-l") { |output, status| ... }
  #   EM.system("sort", ->(p) { p.send_data("b\na\n"); p.close_connection_after_writing },
  #             ->(output, status) { ... })
  #
  # +cmd+ plus any further String arguments make the command (an Array when
  # there are arguments). A Proc as the last argument (or the block) gets the
  # result; a Proc before it gets the process's Connection first, to write
  # to it.
  # @return [Integer] the child's pid
  def self.system(cmd, *args, &cb)
    cb ||= args.pop if args.last.is_a?(Proc)
    init = args.pop if args.last.is_a?(Proc)
    cmd = [cmd, *args] unless args.empty?
    conn = EventMachine.popen(cmd, SystemCmd, cb) { |c| init&.call(c) }
    EventMachine.get_subprocess_pid(conn.signature)
  end
end
