# frozen_string_literal: true
# `require 'em/messages'`: in EventMachine this file holds only a design note
# (message routing that was never built) and defines nothing. The same here;
# the file exists so that requiring it resolves to em_rust, not the real gem.
