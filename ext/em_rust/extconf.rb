# frozen_string_literal: true
# A plain mkmf extconf: writes a Makefile whose default goal runs cargo and whose
# install goal puts the library where `require "em_rust/em_rust"` finds it.
# (No rb_sys gem: only Debian's Ruby packages are available to build with.)
require "mkmf"
require "rbconfig"

find_executable("cargo") or abort <<~MSG
  em_rust needs Rust's cargo to build its native extension.
  Install it (https://rustup.rs, or `apt-get install cargo`) and try again.
MSG

dlext = RbConfig::CONFIG["DLEXT"]
soext = RbConfig::CONFIG["SOEXT"] || "so"
profile = ENV.fetch("EM_RUST_CARGO_PROFILE", "release")
out_dir = profile == "dev" ? "debug" : profile
# Shipped gems carry Cargo.lock: build exactly what was tested.
locked = File.exist?(File.join(__dir__, "..", "..", "Cargo.lock")) ? "--locked" : ""
manifest = File.join(__dir__, "Cargo.toml")

base = dummy_makefile($srcdir).join("\n")
base = base.sub("all install static install-so install-rb: Makefile", "all static install-rb: Makefile")

File.write("Makefile", <<~MAKE)
  #{base}
  DLLIB = em_rust.#{dlext}
  RUBYARCHDIR = $(sitearchdir)/em_rust
  CARGO_TARGET = $(CURDIR)/target
  export RUBY := #{RbConfig.ruby}

  all: $(DLLIB)

  $(DLLIB): FORCE
  \tcargo build --profile #{profile} #{locked} --manifest-path #{manifest} --target-dir $(CARGO_TARGET)
  \t$(COPY) $(CARGO_TARGET)/#{out_dir}/libem_rust.#{soext} $@

  install-so: $(DLLIB)
  \t$(MAKEDIRS) $(RUBYARCHDIR)
  \t$(INSTALL_PROG) $(DLLIB) $(RUBYARCHDIR)

  install: install-so

  gemclean:
  \t-$(RM_RF) $(CARGO_TARGET)

  clean:
  \t-$(RM) $(DLLIB)

  FORCE:
  .PHONY: all install install-so gemclean clean FORCE
MAKE
