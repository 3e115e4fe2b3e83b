# frozen_string_literal: true

RSpec.describe "EM.system and EM::DeferrableChildProcess" do
  it "EM.system calls back with the output and a Process::Status, and returns the pid" do
    result = nil
    pid = nil
    em_run do
      # (No shell: the string is split into words, so ";" is just an argument.)
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

  it "EM.system takes the command's arguments separately and reports the exit status" do
    result = nil
    em_run do
      EM.system("sh", "-c", "printf '%s|' \"$@\"; exit 3", "x", "a b", "c") do |output, status|
        result = [output, status.exitstatus]
        EM.stop
      end
    end
    expect(result).to eq(["a b|c|", 3])
  end

  it "EM.system runs an init proc with the process connection, then the result proc" do
    result = nil
    init = ->(process) { process.send_data("abc\n") }
    done = lambda do |output, status|
      result = [output, status.success?]
      EM.stop
    end
    em_run { EM.system("sh", "-c", "read x; echo got $x", init, done) }
    expect(result).to eq(["got abc\n", true])
  end

  it "DeferrableChildProcess succeeds with all the output, even on failure" do
    outputs = []
    em_run do
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
