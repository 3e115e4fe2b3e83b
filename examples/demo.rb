# frozen_string_literal: true
# em_rust demo: the main job, section by section, each with its timings: an echo
# server with clients, timers/next_tick/defer, TLS, a fiber doing blocking-style
# calls on the loop, and RethinkDB em_run with a changefeed against a local reqlite.
# Run with `bin/demo` (or `ruby -I lib examples/demo.rb` after `rake compile`).
require "em_rust"
require "em_rust/rethinkdb"
require_relative "demo/clock"
require_relative "demo/reactor_basics"
require_relative "demo/echo"
require_relative "demo/tls"
require_relative "demo/fiber_http"
require_relative "demo/rethinkdb_feed"

started = Demo.now
puts "em_rust #{EM::EM_RUST_VERSION} (EventMachine API #{EM::VERSION}), #{RUBY_DESCRIPTION}"
Demo.section("Timers, next_tick, defer, a Deferrable") { Demo.reactor_basics }
Demo.section("Echo server, 3 clients, 1000 messages each") { Demo.echo }
Demo.section("TLS: start_tls with a certificate made now") { Demo.tls }
Demo.section("A fiber: Net::HTTP and sleep against the loop's own HTTP server") { Demo.fiber_http }
Demo.section("RethinkDB: em_run with a Handler, a changefeed") { Demo.rethinkdb }
puts format("\nDone in %.2f s%s", Demo.now - started, Demo.failed? ? " (with failures above)" : "")
exit(Demo.failed? ? 1 : 0)
