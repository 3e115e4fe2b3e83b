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
    def kqueue=(value)
      raise Unsupported, "kqueue is not supported on this platform" if value
    end
    def kqueue? = false

    # Sets the soft limit on open files to `n` (at most the hard limit) and returns
    # the limit in force; with no argument, just returns it.
    def set_descriptor_table_size(n = nil)
      if n
        _soft, hard = Process.getrlimit(:NOFILE)
        Process.setrlimit(:NOFILE, [n.to_i, hard].min, hard)
      end
      Process.getrlimit(:NOFILE).first
    end
    alias set_rlimit_nofile set_descriptor_table_size
  end
end
