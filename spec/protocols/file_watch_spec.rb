# frozen_string_literal: true
require "tmpdir"
require "fileutils"

RSpec.describe EventMachine::FileWatch do
  around do |ex|
    Dir.mktmpdir("em_watch") do |dir|
      @dir = dir
      ex.run
    end
  end

  let(:events) { [] }
  let(:handler) do
    events = self.events
    Module.new do
      define_method(:file_modified) { events << :modified }
      define_method(:file_moved) { events << :moved }
      define_method(:file_deleted) { events << :deleted }
      define_method(:unbind) { events << :unbind }
    end
  end

  def path = File.join(@dir, "watched")

  # Runs the reactor, doing each step (a proc) 0.1 s after the previous one,
  # and stopping 0.3 s after the last.
  def with_steps(*steps)
    em_run do
      watch = yield
      steps.each_with_index { |step, i| EM.add_timer(0.1 * (i + 1)) { step.call(watch) } }
      EM.add_timer(0.1 * steps.size + 0.3) { EM.stop }
    end
  end

  it "reports modification, move and deletion; deletion ends the watch" do
    File.write(path, "a")
    watch = nil
    with_steps(->(_) { File.write(path, "b") },
               ->(_) { File.rename(path, "#{path}.new") },
               ->(_) { File.delete("#{path}.new") }) { watch = EM.watch_file(path, handler) }
    expect(watch).to be_a(described_class)
    expect(watch.path).to eq(path)
    expect(events.uniq).to eq(%i[modified moved deleted unbind])
  end

  it "stop_watching ends the watch, with unbind" do
    File.write(path, "a")
    with_steps(->(w) { w.stop_watching },
               ->(_) { File.write(path, "after") }) { EM.watch_file(path, handler) }
    expect(events).to eq([:unbind])
  end

  it "takes a subclass as the handler" do
    File.write(path, "a")
    log = events
    klass = Class.new(described_class) { define_method(:file_modified) { log << [:sub, path] } }
    with_steps(->(_) { File.write(path, "b") }) { EM.watch_file(path, klass) }
    expect(events.uniq).to eq([[:sub, path]])
  end

  it "raises EM::Unsupported for a file that does not exist (not the Errno its docs promise)" do
    absent = File.join(@dir, "absent")
    em_run do
      expect { EM.watch_file(absent, handler) }
        .to raise_error(EM::Unsupported, "error registering file #{absent} for watching: No such file or directory")
      EM.stop
    end
  end

  it "dispatches the reactor's event names" do
    watch = described_class.allocate
    watch.extend(handler)
    %w[modified moved deleted other].each { |e| watch.receive_data(e) }
    expect(events).to eq(%i[modified moved deleted])
  end
end

RSpec.describe EventMachine::ProcessWatch do
  it "dispatches the reactor's event names and knows its pid" do
    events = []
    klass = Class.new(described_class) do
      define_method(:process_forked) { events << :forked }
      define_method(:process_exited) { events << :exited }
    end
    watch = klass.allocate
    watch.instance_variable_set(:@pid, 123)
    %w[fork exit other].each { |e| watch.receive_data(e) }
    expect(events).to eq(%i[forked exited])
    expect(watch.pid).to eq(123)
  end

  it "reports a child's exit through EM.watch_process", em_rust_only: "EventMachine watches processes with kqueue only" do
    events = []
    handler = Module.new do
      define_method(:process_exited) { events << [:exited, pid] }
      define_method(:unbind) { events << :unbind; EM.stop }
    end
    child = Process.spawn("sleep 0.3")
    em_run { EM.watch_process(child, handler) }
    Process.wait(child)
    expect(events).to eq([[:exited, child], :unbind])
  end
end
