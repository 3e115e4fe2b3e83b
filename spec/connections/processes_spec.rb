# frozen_string_literal: true
require "spec_helper"

RSpec.describe "child processes: EM.popen, EM.system, EM::DeferrableChildProcess" do
  # A handler that collects the child's output and, in unbind, its status.
  def recorder(log)
    Class.new(EM::Connection) do
      define_method(:initialize) { |*args| @args = args; @out = +"" }
      define_method(:receive_data) { |d| @out << d; log << [:encoding, d.encoding] }
      define_method(:unbind) do
        log << [:done, @args, @out, get_status, get_pid]
        EM.stop if @args.include?(:last)
      end
    end
  end

  def done_entries(log) = log.select { |l| l[0] == :done }

  describe "EM.popen" do
    it "splits a String command like a shell (no shell runs) and hands the child's stdout to receive_data" do
      log = []
      popen_pid = nil
      run_em do
        popen_pid = EM.popen("echo 'hello   world'  there", recorder(log), :last).get_pid
        expect(popen_pid).to be_an(Integer).and(be > 0)
      end
      _, args, out, status, pid = done_entries(log).first
      expect(args).to eq([:last])
      expect(out).to eq("hello   world there\n")
      expect(log.assoc(:encoding)).to eq([:encoding, Encoding::ASCII_8BIT])
      expect(pid).to eq(popen_pid)
      expect(status).to be_a(Process::Status)
      expect([status.pid, status.exitstatus, status.success?]).to eq([pid, 0, true])
    end

    it "runs an Array command as given, argv[0] included" do
      log = []
      run_em { EM.popen(["sh", "-c", "echo $0 $1; exit 3", "zero", "one two"], recorder(log), :last) }
      _, _, out, status = done_entries(log).first
      expect(out).to eq("zero one two\n")
      expect(status.exitstatus).to eq(3)
      expect(status.success?).to be(false)
    end

    it "send_data writes to the child's stdin" do
      log = []
      client = Class.new(EM::Connection) do
        define_method(:receive_data) { |d| (@out ||= +"") << d; (log << @out; EM.stop) if @out.end_with?("\n") }
      end
      run_em do
        conn = EM.popen("cat", client)
        conn.send_data("fed to cat\n")
      end
      expect(log).to eq(["fed to cat\n"])
    end

    it "get_status in unbind reports a child killed by a signal" do
      log = []
      run_em { EM.popen(["sh", "-c", "kill -TERM $$"], recorder(log), :last) }
      status = done_entries(log).first[3]
      expect(status).to be_a(Process::Status)
      expect([status.signaled?, status.termsig, status.exitstatus]).to eq([true, Signal.list["TERM"], nil])
    end

    it "a command that cannot be executed still gives a connection, whose status is a failure" do
      log = []
      run_em { EM.popen("/nonexistent/program", recorder(log), :last) }
      status = done_entries(log).first[3]
      expect(status.success?).to be(false) # EM's child exits 255
    end

    it "an empty command raises RuntimeError 'no popen: ...'" do
      run_em do
        expect { EM.popen("", EM::Connection) }.to raise_error(RuntimeError, /\Ano popen: /)
        expect { EM.popen([], EM::Connection) }.to raise_error(RuntimeError, /\Ano popen: /)
        EM.stop
      end
    end

    it "stderr is not captured: it stays the parent's" do
      r = run_ruby(<<~'RUBY')
        $stdout.sync = true
        handler = Class.new(EM::Connection) do
          define_method(:receive_data) { |d| (@out ||= +"") << d }
          define_method(:unbind) { puts "captured #{@out.inspect}"; EM.stop }
        end
        EM.run { EM.popen(["sh", "-c", "echo out; echo to-stderr >&2"], handler) }
      RUBY
      expect(r.output.lines).to contain_exactly("to-stderr\n", "captured \"out\\n\"\n")
    end

    it "close_connection on a running child ends it (SIGTERM) and reaps it: unbind's status shows the signal" do
      log = []
      pid = nil
      run_em do
        conn = EM.popen("sleep 30", recorder(log), :last)
        pid = conn.get_pid
        EM.add_timer(0.1) { conn.close_connection }
      end
      status = done_entries(log).first[3]
      expect(status.pid).to eq(pid)
      expect(status.signaled?).to be(true)
      expect { Process.kill(0, pid) }.to raise_error(Errno::ESRCH) # gone, not a zombie
    end

    it "EM.stop ends and reaps running children too" do
      pid = nil
      run_em do
        pid = EM.popen("sleep 30").get_pid
        EM.add_timer(0.1) { EM.stop }
      end
      expect { Process.kill(0, pid) }.to raise_error(Errno::ESRCH)
    end

    it "runs many children at once" do
      log = []
      run_em do
        10.times { |i| EM.popen(["sh", "-c", "echo #{i}; exit #{i}"], recorder(log), i) }
        stop_when { done_entries(log).size == 10 }
      end
      results = done_entries(log).map { |_, (i), out, status| [i, out, status.exitstatus] }.sort
      expect(results).to eq(Array.new(10) { |i| [i, "#{i}\n", i] })
    end
  end

  describe "EM.system" do
    it "calls back with (output, Process::Status) and returns the child's pid" do
      got = nil
      pid = nil
      run_em do
        pid = EM.system("sh -c 'echo sys; exit 2'") { |out, status| got = [out, status]; EM.stop }
      end
      out, status = got
      expect(pid).to be_an(Integer)
      expect(out).to eq("sys\n")
      expect(status).to be_a(Process::Status)
      expect([status.pid, status.exitstatus]).to eq([pid, 2])
    end

    it "takes the command as several arguments" do
      got = nil
      run_em { EM.system("sh", "-c", "echo $1", "x", "a b") { |out, _| got = out; EM.stop } }
      expect(got).to eq("a b\n")
    end

    it "takes an init proc (given the connection) and a callback proc as trailing arguments" do
      got = nil
      init = proc { |c| got = [c.class.ancestors.include?(EM::Connection)] }
      cb = proc { |out, status| got << out << status.exitstatus; EM.stop }
      run_em { EM.system("echo", "procs", init, cb) }
      expect(got).to eq([true, "procs\n", 0])
    end

    it "splits a String command into words without a shell (\";\" is an argument)" do
      result = nil
      pid = nil
      run_em do
        pid = EM.system("echo hello; 'two words'") do |output, status|
          result = [output, status]
          EM.stop
        end
      end
      output, status = result
      expect(output).to eq("hello; two words\n")
      expect(status).to be_a(Process::Status)
      expect(status.exitstatus).to eq(0)
      expect(pid).to be_an(Integer).and eq(status.pid)
    end

    it "takes the command's arguments separately and reports the exit status" do
      result = nil
      run_em do
        EM.system("sh", "-c", "printf '%s|' \"$@\"; exit 3", "x", "a b", "c") do |output, status|
          result = [output, status.exitstatus]
          EM.stop
        end
      end
      expect(result).to eq(["a b|c|", 3])
    end

    it "the init proc may write to the child's stdin before the result proc runs" do
      result = nil
      init = ->(process) { process.send_data("abc\n") }
      done = lambda do |output, status|
        result = [output, status.success?]
        EM.stop
      end
      run_em { EM.system("sh", "-c", "read x; echo got $x", init, done) }
      expect(result).to eq(["got abc\n", true])
    end
  end

  describe "EM::DeferrableChildProcess" do
    it "open(cmd) returns a Deferrable Connection that succeeds with all output, whatever the exit status" do
      results = []
      run_em do
        ok = EM::DeferrableChildProcess.open("printf abc")
        expect(ok).to be_a(EM::DeferrableChildProcess)
        expect(ok).to be_a(EM::Deferrable)
        expect(ok).to be_a(EM::Connection)
        ok.callback { |data| results << [:ok, data, ok.get_status.exitstatus] }
        failing = EM::DeferrableChildProcess.open(["sh", "-c", "printf partial; exit 1"])
        failing.callback { |data| results << [:failing, data, failing.get_status.exitstatus] }
        stop_when { results.size == 2 }
      end
      expect(results).to contain_exactly([:ok, "abc", 0], [:failing, "partial", 1])
    end

    it "a second child opened from the first one's callback succeeds too (String and Array commands)" do
      outputs = []
      run_em do
        EM::DeferrableChildProcess.open("printf 'a\\nb'").callback do |out|
          outputs << out
          EM::DeferrableChildProcess.open(["sh", "-c", "echo partial; exit 1"]).callback do |out2|
            outputs << out2
            EM.stop
          end
        end
      end
      expect(outputs).to eq(["a\nb", "partial\n"])
    end
  end
end
