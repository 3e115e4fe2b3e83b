# frozen_string_literal: true
require "spec_helper"

# What EventMachine raises for bad input, measured on the real gem. Where EM
# crashes, hangs or fails late and obscurely, the sane behaviour is specified
# for em_rust only, with EM's behaviour given as the reason.
RSpec.describe "bad arguments" do
  after do
    EM.error_handler(nil)
  end

  # Runs `blk` inside EM.run and returns what it raised (nil if nothing).
  def raised_inside_run
    raised = nil
    EM.run do
      begin
        yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        raised = e
      end
      EM.add_timer(0.02) { EM.stop }
    end
    raised
  end

  describe "EM.next_tick" do
    it "raises ArgumentError 'no proc or block given' without a callable, inside and outside the reactor" do
      expect { EM.next_tick }.to raise_error(ArgumentError, "no proc or block given")
      expect { EM.next_tick(5) }.to raise_error(ArgumentError, "no proc or block given")
      expect { EM.next_tick("x") }.to raise_error(ArgumentError, "no proc or block given")
      e1 = raised_inside_run { EM.next_tick }
      e2 = raised_inside_run { EM.next_tick(:not_callable) }
      [e1, e2].each do |e|
        expect(e).to be_an(ArgumentError)
        expect(e.message).to eq("no proc or block given")
      end
    end
  end

  describe "EM.schedule" do
    it "raises ArgumentError without a callable" do
      expect(raised_inside_run { EM.schedule }).to be_an(ArgumentError)
      expect(raised_inside_run { EM.schedule(5) }).to be_an(ArgumentError)
    end
  end

  describe "EM.Callback" do
    it "returns a callable as is, a block as is, and wraps object + method name" do
      pr = proc {}
      expect(EM.Callback(pr)).to be(pr)
      blk_result = EM.Callback { :from_block }.call
      expect(blk_result).to eq(:from_block)
      expect(EM.Callback(pr) { :ignored }).to be(pr)
      expect(EM.Callback([1, 2], :push).call(3)).to eq([1, 2, 3])
      expect(EM.Callback("ab", :upcase).call).to eq("AB")
    end

    it "raises ArgumentError with nothing callable" do
      expect { EM.Callback() }.to raise_error(ArgumentError)
      expect { EM.Callback(5) }.to raise_error(ArgumentError)
      expect { EM.Callback(nil, :foo) }.to raise_error(ArgumentError)
    end

    it "raises ArgumentError for more than two arguments" do
      expect { EM.Callback(1, 2, 3) }.to raise_error(ArgumentError, /wrong number of arguments/)
    end

    it "wraps an unknown method name, which raises NoMethodError when called" do
      cb = EM.Callback(Object.new, :no_such_method)
      expect { cb.call }.to raise_error(NoMethodError, /no_such_method/)
    end
  end

  describe "timer intervals" do
    it "NaN raises FloatDomainError and adds no timer" do
      counts = nil
      e = raised_inside_run do
        n = EM.get_timer_count
        begin
          EM.add_timer(Float::NAN) {}
        ensure
          counts = [n, EM.get_timer_count]
        end
      end
      expect(e).to be_a(FloatDomainError)
      expect(e.message).to eq("NaN")
      expect(counts[1]).to eq(counts[0])
    end

    it "Infinity and -Infinity raise FloatDomainError" do
      expect(raised_inside_run { EM.add_timer(Float::INFINITY) {} }).to be_a(FloatDomainError)
      expect(raised_inside_run { EM.add_timer(-Float::INFINITY) {} }).to be_a(FloatDomainError)
    end

    it "NaN raises FloatDomainError for periodic timers too" do
      expect(raised_inside_run { EM.add_periodic_timer(Float::NAN) {} }).to be_a(FloatDomainError)
      expect(raised_inside_run { EM::Timer.new(Float::NAN) {} }).to be_a(FloatDomainError)
    end

    it "an object without #to_f raises NoMethodError" do
      e = raised_inside_run { EM.add_timer(Object.new) {} }
      expect(e).to be_a(NoMethodError)
      expect(e.message).to include("to_f")
    end

    it "negative intervals are not errors: the timer fires on the next turn" do
      fired = []
      e = raised_inside_run { EM.add_timer(-5) { fired << :neg } }
      expect(e).to be_nil
      expect(fired).to eq([:neg])
    end
  end

  describe "a callback that does not respond to #call" do
    it "makes EM.run raise (EM: NoMethodError when the timer fires), never crash or hang" do
      [-> { EM.add_timer(0.005, 5) }, -> { EM.add_periodic_timer(0.005, "x") }].each do |add|
        expect { EM.run { add.call } }.to raise_error(StandardError)
        expect(EM.reactor_running?).to be(false)
      end
    end

    it "is refused by add_timer, add_periodic_timer and EM::Timer.new with ArgumentError at once",
       em_rust_only: "EM accepts it and raises NoMethodError from EM.run when the timer fires" do
      EM.run do
        expect { EM.add_timer(0.01, 5) }.to raise_error(ArgumentError)
        expect { EM.add_timer(0.01, "not callable") }.to raise_error(ArgumentError)
        expect { EM.add_periodic_timer(0.01, 5) }.to raise_error(ArgumentError)
        expect { EM.add_periodic_timer(0.01) }.to raise_error(ArgumentError)
        expect { EM::PeriodicTimer.new(0.01, :sym) }.to raise_error(ArgumentError)
        EM.add_timer(0.05) { EM.stop }
      end
    end

    it "as a defer callback is refused with ArgumentError at once",
       em_rust_only: "EM accepts it and raises NoMethodError from EM.run when the result arrives" do
      EM.run do
        expect { EM.defer(proc { 1 }, 5) }.to raise_error(ArgumentError)
        expect { EM.defer(proc { 1 }, proc {}, "x") }.to raise_error(ArgumentError)
        EM.add_timer(0.05) { EM.stop }
      end
    end
  end

  describe "EM.defer without an operation" do
    it "ends EM.run with an error (EM: NoMethodError from the pool thread), in a child process" do
      r = run_ruby(<<~'RUBY')
        begin
          EM.run { EM.defer; EM.add_timer(4) { puts "not raised"; EM.stop } }
          puts "returned"
        rescue Exception => e
          puts "raised #{e.class.ancestors.include?(StandardError)}"
        end
      RUBY
      expect(r.output).to include("raised true")
    end

    it "raises ArgumentError at the call",
       em_rust_only: "EM queues it and the pool thread dies with NoMethodError on nil" do
      EM.run do
        expect { EM.defer }.to raise_error(ArgumentError)
        expect { EM.defer(nil, proc {}) }.to raise_error(ArgumentError)
        EM.add_timer(0.05) { EM.stop }
      end
    end
  end

  describe "EM.set_quantum" do
    it "raises ArgumentError outside 5..300000 ms",
       em_rust_only: "EM throws a C++ std::runtime_error ('invalid timer-quantum') that aborts the process" do
      EM.run do
        [0, 1, 4, -1, 300_001].each do |ms|
          expect { EM.set_quantum(ms) }.to raise_error(ArgumentError), "set_quantum(#{ms})"
        end
        EM.add_timer(0.01) { EM.stop }
      end
    end
  end

  describe "calls that need a running reactor" do
    it "raise RuntimeError 'eventmachine not initialized: ...' outside EM.run" do
      [
        -> { EM.add_timer(1) {} },
        -> { EM.add_periodic_timer(1) {} },
        -> { EM.stop },
        -> { EM.stopping? },
        -> { EM.get_timer_count },
        -> { EM.current_time },
        -> { EM.heartbeat_interval },
        -> { EM.heartbeat_interval = 1 },
        -> { EM.set_quantum(10) },
      ].each do |call|
        expect(&call).to raise_error(RuntimeError, /\Aeventmachine not initialized/)
      end
    end
  end
end
