# frozen_string_literal: true
# em_rust: EventMachine with its reactor in Rust. Loads the native library, then
# the Ruby layer. Every file is loaded by relative path so that nothing resolves to
# the real eventmachine gem, which Debian keeps on the load path.
#
# Where each area of EventMachine's API lives (em_rust/ is the reactor's Ruby layer,
# em/ holds EM's Ruby classes under EM's file names):
#   run, stop, shutdown hooks, error_handler, fork; next_tick, schedule   em_rust/reactor.rb
#   add_timer, cancel_timer, timer cap, current_time                     em_rust/timers.rb
#   EM::Timer, EM::PeriodicTimer                                         em/timers.rb
#   defer and its thread pool                                            em_rust/threadpool.rb
#   start_server, connect, attach, watch, UDP; accept and unbind events  em_rust/connections.rb
#   send_data, close, pause, proxy, socket options, timeouts, heartbeat  em_rust/connection_binding.rb
#   EM's C-level functions (attach_fd, invoke_popen, event_callback...)  em_rust/low_level.rb
#   Connection (callbacks, send_data, start_tls, TLS getters)            em/connection.rb
#   TLS protocols, options, set_tls_parms, the handshake event           em_rust/tls.rb
#   popen, subprocess pid and status                                     em_rust/popen.rb
#   watch_file, watch_process, open_keyboard                             em_rust/watches.rb
#   FileWatch, ProcessWatch                                              em/file_watch.rb, em/process_watch.rb
#   EM.system, DeferrableChildProcess                                    em/processes.rb
#   EM::FiberScheduler (Fiber.schedule on the reactor), Deferrable#wait  em/fiber_scheduler.rb, em/deferrable.rb
#   EM.fiber, EM.stats                                                   em_rust/reactor.rb
#   EM.fork_workers (N reactors on one port)                             em_rust/workers.rb
#   the RethinkDB client                                                 em_rust/rethinkdb.rb
#   exceptions                                                           em_rust/errors.rb
#   epoll?, kqueue?, ssl?, descriptor table size                         em_rust/capabilities.rb
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
require_relative "em_rust/workers"
require_relative "em_rust/timers"
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
require_relative "em_rust/popen"
require_relative "em_rust/watches"
require_relative "em_rust/low_level"
require_relative "em/connection"
require_relative "em_rust/tls"
require_relative "em/file_watch"
require_relative "em/process_watch"
require_relative "em/fiber_scheduler"
require_relative "em/processes"
require_relative "em/streamer"
require_relative "em/io_streamer"
require_relative "em/buftok"
require_relative "em/protocols"
# EM::DNS (and the resolv library under it) load on first use: em_rust resolves
# hostnames natively, and resolv is about 1 MB of a process's memory. The real
# EventMachine requires resolv (and with it securerandom) at load, so programs may
# use Resolv and SecureRandom without requiring them: autoloads keep that working.
EventMachine.autoload(:DNS, File.expand_path("em/resolver", __dir__))
autoload(:Resolv, "resolv") unless defined?(Resolv)
autoload(:SecureRandom, "securerandom") unless defined?(SecureRandom)

EM = EventMachine unless defined?(EM)
