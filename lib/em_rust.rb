# frozen_string_literal: true
# em_rust: EventMachine with its reactor in Rust. Loads the native library, then
# the Ruby layer. Every file is loaded by relative path so that nothing resolves to
# the real eventmachine gem, which Debian keeps on the load path.
if defined?(EventMachine::VERSION) && !defined?(EventMachine::EM_RUST_VERSION)
  raise LoadError, "the eventmachine gem is already loaded; require 'em_rust' before anything requires 'eventmachine'"
end

require "socket"
require_relative "em_rust/version"
require_relative "em_rust/errors" # before the native library, which checks its classes
require_relative "em_rust/native"
require_relative "em_rust/constants"

# The reactor: lifecycle, ticks, timers, the defer pool.
require_relative "em_rust/reactor"
require_relative "em_rust/next_tick"
require_relative "em_rust/timer_api"
require_relative "em_rust/threadpool"
require_relative "em_rust/capabilities"
require_relative "em/timers"

# EventMachine's Ruby primitives.
require_relative "em/callback"
require_relative "em/deferrable"
require_relative "em/future"
require_relative "em/completion"
require_relative "em/queue"
require_relative "em/channel"
require_relative "em/iterator"
require_relative "em/pool"
require_relative "em/threaded_resource"
require_relative "em/tick_loop"
require_relative "em/spawnable"

# Connections, processes, watches and the protocols built on them.
require_relative "em_rust/connections"
require_relative "em_rust/connection_binding"
require_relative "em_rust/processes"
require_relative "em_rust/low_level"
require_relative "em/connection"
require_relative "em_rust/tls"
require_relative "em/file_watch"
require_relative "em/process_watch"
require_relative "em/processes"
require_relative "em/streamer"
require_relative "em/io_streamer"
require_relative "em/buftok"
require_relative "em/protocols"
require_relative "em/resolver"

EM = EventMachine unless defined?(EM)
