# frozen_string_literal: true
require "spec_helper"

RSpec.describe "EM.watch_file (inotify)" do
  let(:file) { File.join(tmpdir, "watched.txt").tap { |f| File.write(f, "start\n") } }

  def watcher(log)
    Class.new(EM::FileWatch) do
      define_method(:file_modified) { log << [:modified, path] }
      define_method(:file_moved) { log << [:moved, path] }
      define_method(:file_deleted) { log << [:deleted, path] }
      define_method(:unbind) { log << [:unbind] }
    end
  end

  it "returns an EM::FileWatch whose path is the watched path (set once created: not yet in initialize/post_init)" do
    seen = []
    handler = Class.new(EM::FileWatch) do
      define_method(:initialize) { |*args| seen << [:initialize, args, path] }
      define_method(:post_init) { seen << [:post_init, path] }
    end
    run_em do
      w = EM.watch_file(file, handler, :a) { |c| seen << [:block, c.path] }
      expect(w).to be_a(EM::FileWatch)
      expect(w.signature).to be_an(Integer)
      expect(w.path).to eq(file)
      EM.stop
    end
    expect(seen).to eq([[:initialize, [:a], nil], [:post_init, nil], [:block, file]])
  end

  it "calls file_modified when the file is written" do
    log = []
    run_em do
      EM.watch_file(file, watcher(log))
      EM.add_timer(0.05) { File.write(file, "more\n", mode: "a") }
      stop_when(what: "file_modified") { log.include?([:modified, file]) }
    end
    expect(log.uniq).to eq([[:modified, file], [:unbind]]) # unbind: EM.stop ends the watch
  end

  it "calls file_moved when it is renamed; path stays the original" do
    log = []
    run_em do
      EM.watch_file(file, watcher(log))
      EM.add_timer(0.05) { File.rename(file, "#{file}.moved") }
      stop_when(what: "file_moved") { log.include?([:moved, file]) }
    end
    expect(log).not_to include([:deleted, file])
  end

  it "calls file_deleted and then unbind when it is removed" do
    log = []
    run_em do
      EM.watch_file(file, watcher(log))
      EM.add_timer(0.05) { File.unlink(file) }
      stop_when(what: "unbind") { log.include?([:unbind]) }
    end
    expect(log.last(2)).to eq([[:deleted, file], [:unbind]])
    expect(log).not_to include([:moved, file])
  end

  it "reports changes inside a watched directory as file_modified" do
    log = []
    run_em do
      EM.watch_file(tmpdir, watcher(log))
      EM.add_timer(0.05) { File.write(File.join(tmpdir, "new.txt"), "x") }
      stop_when(what: "file_modified") { log.include?([:modified, tmpdir]) }
    end
    expect(log).to include([:modified, tmpdir])
    expect(log.last).to eq([:unbind]) # EM.stop ends the watch
  end

  it "reports modification, move and deletion in turn on one watch; the deletion ends it" do
    log = []
    moved = "#{file}.new"
    run_em do
      EM.watch_file(file, watcher(log))
      EM.add_timer(0.05) { File.write(file, "b") }
      EM.add_timer(0.15) { File.rename(file, moved) }
      EM.add_timer(0.25) { File.delete(moved) }
      stop_when(what: "unbind") { log.include?([:unbind]) }
    end
    expect(log.uniq).to eq([[:modified, file], [:moved, file], [:deleted, file], [:unbind]])
  end

  it "stop_watching unbinds at once (before it returns nil); later changes are not reported" do
    log = []
    run_em do
      w = EM.watch_file(file, watcher(log))
      EM.add_timer(0.05) do
        log << [:stop_watching, w.stop_watching]
        File.write(file, "unseen\n", mode: "a")
        EM.add_timer(0.2) { EM.stop }
      end
    end
    expect(log).to eq([[:unbind], [:stop_watching, nil]])
  end

  it "stop_watching on a stale watch raises EM::InvalidSignature" do
    log = []
    run_em do
      w = EM.watch_file(file, watcher(log))
      w.stop_watching
      expect { w.stop_watching }.to raise_error(EM::InvalidSignature, "attempted to remove invalid watch signature")
      gone = EM.watch_file(File.join(tmpdir, "other").tap { |f| File.write(f, "") }, watcher(log))
      File.unlink(gone.path)
      when_true(-> { log.count([:unbind]) == 2 }, what: "the deleted file's unbind") do
        expect { gone.stop_watching }.to raise_error(EM::InvalidSignature)
        EM.stop
      end
    end
  end

  it "raises EM::Unsupported 'error registering file <path> for watching: <reason>' for a missing path" do
    missing = File.join(tmpdir, "missing")
    run_em do
      expect { EM.watch_file(missing, watcher([])) }
        .to raise_error(EM::Unsupported, "error registering file #{missing} for watching: No such file or directory")
      EM.stop
    end
  end

  it "takes a Module handler (mixed into a FileWatch subclass) and rejects a Connection that is not a FileWatch" do
    log = []
    mod = Module.new { define_method(:file_modified) { log << :modified_via_module } }
    run_em do
      w = EM.watch_file(file, mod)
      expect(w).to be_a(EM::FileWatch)
      expect { EM.watch_file(file, ConnectionHelpers::Echo) }
        .to raise_error(ArgumentError, "must provide module or subclass of EventMachine::FileWatch")
      File.write(file, "x", mode: "a")
      stop_when { log.include?(:modified_via_module) }
    end
  end

  it "EM::FileWatch maps the reactor's event names to its callbacks and ignores others" do
    log = []
    watch = watcher(log).allocate
    watch.instance_variable_set(:@path, "p")
    %w[modified moved deleted other].each { |e| watch.receive_data(e) }
    expect(log).to eq([[:modified, "p"], [:moved, "p"], [:deleted, "p"]])
  end
end
