# frozen_string_literal: true
# em_rust's RethinkDB client: `require 'em_rust/rethinkdb'`, then
# `include RethinkDB::Shortcuts` for `r`. The query builder, synchronous `run`
# and `em_run` with RethinkDB::Handler follow the official rethinkdb gem
# (2.4.0); the wire protocol runs in Rust (RethinkDB::Native::Socket) and em_run
# responses arrive on the em_rust reactor.
require_relative "../em_rust"

require_relative "rethinkdb/protocol"
require_relative "rethinkdb/errors"
require_relative "rethinkdb/binary"
require_relative "rethinkdb/expr"
require_relative "rethinkdb/rql"
require_relative "rethinkdb/term_methods"
require_relative "rethinkdb/pretty_printer"
require_relative "rethinkdb/shortcuts"
require_relative "rethinkdb/pseudo_types"
require_relative "rethinkdb/responses"
require_relative "rethinkdb/run_args"
require_relative "rethinkdb/handler"
require_relative "rethinkdb/query_handle"
require_relative "rethinkdb/em_guard"
require_relative "rethinkdb/cursor"
require_relative "rethinkdb/thread_pump"
require_relative "rethinkdb/reactor_pump"
require_relative "rethinkdb/hosts"
require_relative "rethinkdb/backoff"
require_relative "rethinkdb/failover"
require_relative "rethinkdb/connection"
require_relative "rethinkdb/reactor_attach"
require_relative "rethinkdb/run"
