# frozen_string_literal: true

# EM::Deferrable::Pool is the old name of EM::Pool, kept as an alias.
warn "EM::Deferrable::Pool is deprecated, use EM::Pool"
require_relative "../pool"
EventMachine::Deferrable::Pool = EventMachine::Pool
