# The two commands: `make run` and `make test`. Both install the Debian packages they need first.
#
# C++ (Eigen, Bullet) is compiled with -O3 -march=native: SwiftPM would otherwise build it at -O0 in debug
# (Eigen runs 50-100x slower) and for baseline x86-64 in release (no AVX2/AVX-512). Tests run in release too,
# so the simulation and training tests take seconds, not minutes.
SWIFT      ?= swift
CONFIG     ?= release
SWIFTFLAGS ?= -c $(CONFIG) -Xcxx -O3 -Xcxx -march=native
DEB_PACKAGES = libbullet-dev libeigen3-dev libyaml-dev pkg-config
REFLEX     = .build/$(CONFIG)/reflex

.PHONY: run test build deps bench clean example

# The default demo: the bundled diffusion policy lifts a cube with the simulated SO-101, RTI warm-started
# (3 network evaluations per call instead of 100), over 50 seeded episodes on 2 workers.
run: build
	$(REFLEX) eval --policy policies/so101-lift --robot so101 --task lift --episodes 50 --seed 1000 --workers 2 \
	  --out .build/run-lift.json

test: deps
	$(SWIFT) build $(SWIFTFLAGS) --build-tests -Xswiftc -enable-testing
	$(SWIFT) test $(SWIFTFLAGS) -Xswiftc -enable-testing --skip-build
	$(MAKE) example

# An embedder's package (examples/embed-swift) builds against Reflex by path with only the products it names, drives
# the simulated arm and gives the same chunk as `reflex predict`.
example: build
	examples/embed-swift/check.sh

build: deps
	$(SWIFT) build $(SWIFTFLAGS) --product reflex

# Installs the system libraries when pkg-config cannot find them (needs root or sudo).
deps:
	@if ! pkg-config --exists eigen3 bullet-float64 yaml-0.1 2>/dev/null; then \
	  echo "Installing $(DEB_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(DEB_PACKAGES); \
	fi

bench: build
	$(REFLEX) bench nn

clean:
	rm -rf .build
