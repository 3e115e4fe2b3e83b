# frozen_string_literal: true
# What this build is and can do: the capability probes callers branch on.
module EventMachine
  @epoll = true

  class << self
    def library_type = :extension
    def ssl? = true

    # Linux: the reactor always uses epoll; kqueue is not available.
    def epoll = (@epoll = true)
    def epoll=(_value)
      @epoll = true
    end
    def epoll? = true
    def kqueue = false
    def kqueue=(_value); end
    def kqueue? = false

    # Raises the soft limit on open files toward `n` (bounded by the hard limit) and
    # returns the limit in force.
    def set_descriptor_table_size(n = nil)
      soft, hard = Process.getrlimit(:NOFILE)
      if n && n.to_i > soft
        target = [n.to_i, hard].min
        Process.setrlimit(:NOFILE, target, hard)
      end
      Process.getrlimit(:NOFILE).first
    end
    alias set_rlimit_nofile set_descriptor_table_size
  end
end
