# frozen_string_literal: true
# Kernel watches and child processes under `rake spec:gc_stress`, each stopped
# from its own callbacks (no polling):
# - EM.watch_file (watch_filename, unwatch_filename): file_modified, file_moved,
#   file_deleted, unbind, in that order, and stop_watching's unbind;
# - EM.watch_process (watch_pid, unwatch_pid; em_rust only): process_exited,
#   unbind, and stop_watching's unbind;
# - EM.popen: the child's output to receive_data, send_data to its stdin, its
#   exit status in unbind (get_status, get_pid);
# - EM.open_keyboard (attach_fd on stdin): in a child Ruby whose stdin is a pipe,
#   with GC.stress on around its EM.run when GC_STRESS is set.
require_relative "preload"
require "tmpdir"

RSpec.describe "watches, popen and the keyboard (the GC.stress subset)", :gc_stress do
  around do |example|
    Dir.mktmpdir("em_gc_watch") do |dir|
      @dir = dir
      example.run
    end
  end

  it "a file watch reports modified, moved, deleted, then unbind; stop_watching unbinds another at once" do
    log = []
    file = File.join(@dir, "watched")
    other = File.join(@dir, "other")
    File.write(file, "a")
    File.write(other, "a")
    watcher = Class.new(EM::FileWatch) do
      define_method(:file_modified) do
        next if log.include?(:modified) # a write may report twice
        log << :modified
        File.rename(path, "#{path}.moved")
      end
      define_method(:file_moved) do
        log << :moved
        File.delete("#{path}.moved")
      end
      define_method(:file_deleted) { log << :deleted }
      define_method(:unbind) do
        log << :unbind
        @other.stop_watching
      end
    end
    quiet = Class.new(EM::FileWatch) do
      define_method(:unbind) do
        log << :other_unbind
        EM.stop
      end
    end
    run_em(5, what: "the watches' unbinds") do
      w = EM.watch_file(file, watcher)
      w.instance_variable_set(:@other, EM.watch_file(other, quiet))
      File.write(file, "b")
    end
    expect(log).to eq(%i[modified moved deleted unbind other_unbind])
  end

  it "a process watch reports process_exited, then unbind; stop_watching unbinds another",
     em_rust_only: "real EM on Linux has no pid watching (kqueue only): EM::Unsupported" do
    log = []
    exiting = Process.spawn("true")
    sleeping = Process.spawn("sleep", "30")
    watcher = Class.new(EM::ProcessWatch) do
      define_method(:process_exited) { log << [:exited, pid] }
      define_method(:unbind) do
        log << [:unbind, pid]
        @other&.stop_watching
        EM.stop if pid == sleeping
      end
    end
    run_em(5, what: "the exit and both unbinds") do
      w = EM.watch_process(exiting, watcher)
      w.instance_variable_set(:@other, EM.watch_process(sleeping, watcher))
    end
    expect(log).to eq([[:exited, exiting], [:unbind, exiting], [:unbind, sleeping]])
  ensure
    Process.kill(:KILL, sleeping) if sleeping
    [exiting, sleeping].compact.each { |pid| Process.wait(pid) rescue nil } # rubocop:disable Style/RescueModifier
  end

  it "popen: what the child writes arrives in receive_data; send_data reaches its stdin; unbind sees its exit status" do
    log = []
    child = Class.new(EM::Connection) do
      define_method(:post_init) { send_data("in\n") }
      define_method(:receive_data) { |d| log << d }
      define_method(:unbind) do
        log << get_status.exitstatus << get_pid.class
        EM.stop
      end
    end
    run_em(5, what: "the child's unbind") do
      EM.popen("sh -c 'read line; echo \"got $line\"; exit 3'", child)
    end
    expect(log).to eq(["got in\n", 3, Integer])
  end

  it "open_keyboard: what arrives on stdin goes to receive_data, in order" do
    code = <<~'RUBY'
      $stdout.sync = true
      rd, wr = IO.pipe
      $stdin.reopen(rd)
      rd.close
      got = +""
      handler = Class.new(EM::Connection) do
        define_method(:receive_data) do |d|
          got << d
          EM.stop if got.end_with?("two\n")
        end
      end
      GC.stress = true if ENV["GC_STRESS"]
      EM.run do
        EM.open_keyboard(handler)
        wr.write("one\n")
        EM.next_tick { wr.write("two\n") }
        EM.add_timer(60) { EM.stop }
      end
      GC.stress = false
      puts "got #{got.inspect}"
    RUBY
    r = run_ruby(code, timeout: bound(10))
    expect(r.output).to eq(%(got "one\\ntwo\\n"\n))
    expect(r).to be_success
  end
end
