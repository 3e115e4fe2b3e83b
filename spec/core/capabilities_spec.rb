# frozen_string_literal: true
require "spec_helper"

RSpec.describe "capabilities and constants" do
  it "EM is EventMachine" do
    expect(EM).to be(EventMachine)
  end

  it "EM.library_type is :extension" do
    expect(EM.library_type).to eq(:extension)
  end

  it "EM.ssl? is true" do
    expect(EM.ssl?).to be(true)
  end

  it "EM.epoll? is true, and stays true after EM.epoll (which returns true)" do
    expect(EM.epoll?).to be(true)
    expect(EM.epoll).to be(true)
    expect(EM.epoll?).to be(true)
  end

  it "EM.kqueue? is false; EM.kqueue returns false" do
    expect(EM.kqueue?).to be(false)
    expect(EM.kqueue).to be(false)
    expect(EM.kqueue?).to be(false)
  end

  it "EM.kqueue = true raises EM::Unsupported" do
    expect { EM.kqueue = true }.to raise_error(EM::Unsupported, "kqueue is not supported on this platform")
    expect(EM.kqueue?).to be(false)
  end

  it "EM::VERSION is a version String" do
    expect(EM::VERSION).to be_a(String)
    expect(EM::VERSION).to match(/\A\d+\.\d+/)
  end

  describe "EM.set_descriptor_table_size" do
    it "returns the current descriptor limit (the soft RLIMIT_NOFILE) as an Integer" do
      size = EM.set_descriptor_table_size
      expect(size).to be_an(Integer)
      expect(size).to eq(Process.getrlimit(:NOFILE)[0])
    end

    it "sets the soft limit and returns it (child process)" do
      r = run_ruby(<<~'RUBY')
        soft, hard = Process.getrlimit(:NOFILE)
        want = [soft, hard].min - 7
        got = EM.set_descriptor_table_size(want)
        print [got == want, Process.getrlimit(:NOFILE)[0] == want, EM.set_descriptor_table_size == want].inspect
      RUBY
      expect(r.output).to eq("[true, true, true]")
    end
  end

  describe "exception classes" do
    {
      ConnectionError: RuntimeError,
      ConnectionNotBound: RuntimeError,
      NoHandlerForAcceptedConnection: RuntimeError,
      UnknownTimerFired: RuntimeError,
      Unsupported: RuntimeError,
      InvalidSignature: RuntimeError,
      InvalidPrivateKey: RuntimeError,
    }.each do |name, parent|
      it "EM::#{name} is a #{parent}" do
        klass = EM.const_get(name)
        expect(klass).to be_a(Class)
        expect(klass.superclass).to be(parent)
      end
    end

    # Not StandardErrors in EM: a bare `rescue` does not catch them.
    it "EM::FileNotFoundException and EM::BadParams derive from Exception directly" do
      expect(EM::FileNotFoundException.superclass).to be(Exception)
      expect(EM::BadParams.superclass).to be(Exception)
    end

    it "EM::BadCertParams and EM::BadPrivateKeyParams are EM::BadParams" do
      expect(EM::BadCertParams.superclass).to be(EM::BadParams)
      expect(EM::BadPrivateKeyParams.superclass).to be(EM::BadParams)
    end
  end

  it "EM::ERRNOS maps errno numbers to Errno classes, :unknown otherwise" do
    expect(EM::ERRNOS[Errno::ECONNREFUSED::Errno]).to be(Errno::ECONNREFUSED)
    expect(EM::ERRNOS[Errno::ETIMEDOUT::Errno]).to be(Errno::ETIMEDOUT)
    expect(EM::ERRNOS[999_999]).to eq(:unknown)
  end

  it "responds to the reactor-core API" do
    core = %i[
      run run_block stop stop_event_loop reactor_running? reactor_thread? reactor_thread stopping?
      cleanup_machine fork_reactor add_shutdown_hook error_handler library_type ssl?
      add_timer add_periodic_timer cancel_timer get_timer_count set_max_timers get_max_timers
      set_quantum current_time heartbeat_interval heartbeat_interval= get_heartbeat_interval set_heartbeat_interval
      next_tick schedule defer defers_finished? spawn_threadpool threadpool threadpool_size threadpool_size=
      signal_loopbreak epoll epoll= epoll? kqueue kqueue= kqueue? set_descriptor_table_size Callback
    ]
    missing = core.reject { |m| EM.respond_to?(m) }
    expect(missing).to eq([])
  end

  it "has EM::Timer and EM::PeriodicTimer" do
    expect(EM::Timer).to be_a(Class)
    expect(EM::PeriodicTimer).to be_a(Class)
  end
end
