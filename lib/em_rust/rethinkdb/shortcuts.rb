# frozen_string_literal: true
module RethinkDB
  # `include RethinkDB::Shortcuts` gives `r`: `r` is the unbound query builder,
  # `r(x)` is `r.expr(x)`.
  module Shortcuts
    def r(*args)
      args.empty? ? RQL.new : RQL.new.expr(*args)
    end
  end
end
