# frozen_string_literal: true
# The demo's clock and output: every line says how long after the section's
# start it happened.
module Demo
  module_function

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Runs one section, printing its title and how long it took.
  def section(title)
    puts "\n== #{title}"
    @start = now
    yield
    puts format("   (%.0f ms)", (now - @start) * 1000)
  rescue StandardError, ScriptError => e
    puts "   FAILED: #{e.class}: #{e.message}"
    @failed = true
  end

  def log(text) = puts(format("%9.2f ms  %s", (now - @start) * 1000, text))

  def failed? = @failed
end
