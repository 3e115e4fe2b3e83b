# frozen_string_literal: true
# echo_pingpong with EM.callbacks_in_fibers on em_rust (every receive_data in a
# pool fiber); the real eventmachine has no such mode and runs it as usual. Read
# with the echo_pingpong row of the same run: this row's ratio over that one is
# the cost of callbacks in fibers (issue 11's target: on/off >= 0.7).
require_relative "lib/loader"

EM.callbacks_in_fibers = true if Bench::IMPL == "em_rust"
load File.join(__dir__, "echo_pingpong.rb")
