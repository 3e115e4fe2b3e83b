# frozen_string_literal: true
require "socket"

# A plain Fiber::Scheduler on IO.select, the anchor of the scheduler conformance
# spec: each hook done in the simplest way that is plainly right, so that an
# example passing here and failing on EM::FiberScheduler points at the latter.
# No io_read/io_write (Ruby falls back to io_wait), waits on other threads for
# process_wait and address_resolve.
class ReferenceScheduler
  def initialize
    @readable = {} # io => fiber
    @writable = {}
    @timers = []   # [deadline, proc], unsorted
    @unblocked = Thread::Queue.new
    @blocked = {}.compare_by_identity # fibers in block
    @wake_r, @wake_w = IO.pipe
  end

  def fiber(&block)
    fiber = Fiber.new(blocking: false, &block)
    fiber.resume
    fiber
  end

  def io_wait(io, events, timeout)
    fiber = Fiber.current
    @readable[io] = fiber if events.anybits?(IO::READABLE)
    @writable[io] = fiber if events.anybits?(IO::WRITABLE)
    timer = after(timeout) { fiber.resume(false) } if timeout
    Fiber.yield
  ensure
    @readable.delete(io)
    @writable.delete(io)
    @timers.delete(timer)
  end

  def kernel_sleep(duration = nil)
    return block(:sleep) unless duration

    fiber = Fiber.current
    timer = after(duration) { fiber.resume(true) }
    Fiber.yield
  ensure
    @timers.delete(timer)
  end

  def block(_blocker, timeout = nil)
    fiber = Fiber.current
    timer = after(timeout) { fiber.resume(false) } if timeout
    @blocked[fiber] = true
    Fiber.yield
  ensure
    @blocked.delete(fiber)
    @timers.delete(timer)
  end

  def unblock(_blocker, fiber)
    @unblocked << fiber
    @wake_w.write_nonblock(".", exception: false)
  end

  def timeout_after(duration, klass, *message)
    fiber = Fiber.current
    timer = after(duration) { fiber.raise(klass, *message.compact) if fiber.alive? }
    yield duration
  ensure
    @timers.delete(timer)
  end

  def process_wait(pid, flags) = Thread.new { Process::Status.wait(pid, flags) }.value

  def address_resolve(hostname)
    Thread.new { Addrinfo.getaddrinfo(hostname.sub(/%.*\z/, ""), nil).map(&:ip_address).uniq }.value
  end

  def close = run

  # Until nothing waits: readiness, then wake-ups, then due timers.
  def run
    while @readable.any? || @writable.any? || @timers.any? || @blocked.any?
      readable, writable = IO.select([@wake_r, *@readable.keys], @writable.keys, nil, next_timeout)
      readable&.each { |io| io.equal?(@wake_r) ? drain : @readable[io]&.resume(IO::READABLE) }
      writable&.each { |io| @writable[io]&.resume(IO::WRITABLE) }
      until @unblocked.empty?
        fiber = @unblocked.pop
        fiber.resume(true) if @blocked.key?(fiber)
      end
      due.each(&:call)
    end
  end

  private

  def after(seconds, &action)
    timer = [now + seconds, action]
    @timers << timer
    timer
  end

  def due
    at = now
    ready, @timers = @timers.partition { |deadline, _| deadline <= at }
    ready.sort_by(&:first).map(&:last)
  end

  def next_timeout
    return nil if @timers.empty?

    [@timers.map(&:first).min - now, 0].max
  end

  def drain = @wake_r.read_nonblock(1024, exception: false)
  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
end
