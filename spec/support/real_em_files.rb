# frozen_string_literal: true
# The files of the real eventmachine gem (Debian's, under vendor_ruby, always on
# the load path): a spec or benchmark run on em_rust must load none of them.
# Shared by spec/spec_helper.rb and bench/lib/loader.rb.
REAL_EM_FILES = %r{/vendor_ruby/(eventmachine\.rb|em/|jeventmachine\.rb)|/(rubyeventmachine|fastfilereaderext)\.so\z} unless defined?(REAL_EM_FILES)
