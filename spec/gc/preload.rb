# frozen_string_literal: true
# Required by every spec/gc file. rspec-expectations autoloads each built-in
# matcher on its first use; under GC.stress parsing one of those files costs
# hundreds of full GCs (10-15 s on a 2-core box), spent in RSpec, not in the
# code under test. So they are all loaded here, before GC.stress is on.
RSpec::Matchers::BuiltIn.constants.each { |name| RSpec::Matchers::BuiltIn.const_get(name) }
