# frozen_string_literal: true
require "spec_helper"

# Everything here runs in a child ruby that forks again: forking the RSpec
# process itself would run its at_exit hooks twice.
RSpec.describe "fork", timeout: 20 do
  # Ruby run in the child: defines `who` ("parent" or "child") and
  # `reap(pid)`, which waits for a grandchild from inside the reactor, with a
  # deadline, and prints its exit status.
  def prelude = <<~'RUBY'
    $stdout.sync = true
    PARENT = Process.pid
    def who = Process.pid == PARENT ? "parent" : "child"
    def reap(pid, then_stop: true)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 8
      poll = EM.add_periodic_timer(0.01) do
        if Process.waitpid(pid, Process::WNOHANG)
          puts "child exited #{$?.exitstatus.inspect}"
          poll.cancel
          EM.stop if then_stop
        elsif Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          Process.kill(:KILL, pid)
          Process.waitpid(pid)
          puts "child hung"
          poll.cancel
          EM.stop if then_stop
        end
      end
    end
  RUBY

  def lines(output) = output.lines.map(&:chomp)

  describe "EM.fork_reactor" do
    it "returns the child's pid; the child runs a fresh reactor with the block and exits 0 when it stops" do
      r = run_ruby(prelude + <<~'RUBY', timeout: 15)
        EM.run do
          EM.add_timer(0.3) { puts "#{who} pending timer" }
          EM.next_tick do
            EM.next_tick { puts "#{who} pending tick" }
            pid = EM.fork_reactor do
              puts "#{who} block running=#{EM.reactor_running?} reactor_thread=#{EM.reactor_thread?}"
              EM.next_tick { puts "#{who} tick" }
              EM.add_timer(0.05) { puts "#{who} timer"; EM.stop }
            end
            puts "#{who} got #{pid.class}"
            EM.add_timer(0.5) { reap(pid) }
          end
        end
        puts "#{who} done"
      RUBY
      out = lines(r.output)
      expect(out).to include("parent got Integer", "child block running=true reactor_thread=true",
                             "child tick", "child timer", "child exited 0",
                             "parent pending tick", "parent pending timer", "parent done")
      expect(out.grep(/child pending/)).to eq([]), r.output
      expect(out.grep(/child done/)).to eq([]) # fork_reactor's child exits when its run returns
      expect(r.success?).to be(true), r.output
    end

    it "also works when no reactor is running" do
      r = run_ruby(prelude + <<~'RUBY', timeout: 15)
        pid = EM.fork_reactor { puts "#{who} running=#{EM.reactor_running?}"; EM.add_timer(0.01) { EM.stop } }
        Process.waitpid(pid)
        puts "exit #{$?.exitstatus}"
      RUBY
      expect(lines(r.output)).to eq(["child running=true", "exit 0"])
    end
  end

  describe "EM.run in a Process.fork child" do
    it "starts a fresh reactor in the child, with working timers, ticks, defer and cross-thread ticks" do
      r = run_ruby(prelude + <<~'RUBY', timeout: 15)
        EM.run do
          EM.defer(proc { :warm }, proc do # the parent's pool threads exist at fork time
            EM.add_timer(0.3) { puts "#{who} pending timer" }
            EM.next_tick { puts "#{who} pending tick" }
            pid = Process.fork do
              seen = [EM.reactor_running?]
              EM.run do
                seen << EM.reactor_running? << EM.reactor_thread?
                EM.add_timer(0.02) { seen << :timer }
                EM.defer(proc { :deferred }, proc do |v|
                  seen << v
                  Thread.new { EM.next_tick { seen << :cross_thread_tick } }
                end)
                EM.add_timer(0.25) { EM.stop }
              end
              puts "#{who} start=#{seen.first(3).inspect} events=#{seen.drop(3).map(&:to_s).sort.inspect} after=#{EM.reactor_running?}"
              exit!(7)
            end
            reap(pid)
          end)
        end
        puts "#{who} done"
      RUBY
      out = lines(r.output)
      expect(out).to include('child start=[false, true, true] events=["cross_thread_tick", "deferred", "timer"] after=false')
      expect(out).to include("child exited 7", "parent pending tick", "parent done")
      expect(out.grep(/child pending/)).to eq([]), r.output
      expect(r.success?).to be(true), r.output
    end

    it "reports reactor_running? false in the child until it calls EM.run" do
      r = run_ruby(prelude + <<~'RUBY', timeout: 15)
        EM.run do
          pid = Process.fork { puts "#{who} running=#{EM.reactor_running?}"; exit!(0) }
          reap(pid)
        end
      RUBY
      expect(lines(r.output)).to eq(["child running=false", "child exited 0"])
    end

    it "leaves the parent's reactor working" do
      r = run_ruby(prelude + <<~'RUBY', timeout: 15)
        EM.run do
          pid = Process.fork { EM.run { EM.add_timer(0.01) { EM.stop } }; exit!(0) }
          reap(pid, then_stop: false)
          EM.add_timer(0.3) do
            EM.defer(proc { :ok }, proc { |v| puts "#{who} defer #{v}"; EM.next_tick { puts "#{who} tick"; EM.stop } })
          end
        end
      RUBY
      expect(lines(r.output)).to eq(["child exited 0", "parent defer ok", "parent tick"])
    end
  end
end
