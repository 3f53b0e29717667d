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
# The tests' independent peers: the Python packages of Tests/peers-requirements.txt (the vendors' servo SDKs,
# pybullet) in a venv made here — inside the repository (git-ignored) unless REFLEX_PEERS_VENV names another — and
# Debian's chromium for the status page's browser test. Both paths are exported to the tests (Tests/TestSupport).
PYTHON     ?= python3
REFLEX_PEERS_VENV ?= $(CURDIR)/.peers-venv
PEERS_REQUIREMENTS = Tests/peers-requirements.txt
PEERS_LEROBOT_REQUIREMENTS = Tests/peers-lerobot-requirements.txt
PEERS_STAMP = $(REFLEX_PEERS_VENV)/.reflex-peers-requirements
export REFLEX_PEERS_VENV

.PHONY: run test build deps test-deps peers bench clean example fuzz sanitize

# The default demo: the bundled diffusion policy lifts a cube with the simulated SO-101, RTI warm-started
# (3 network evaluations per call instead of 100), over 50 seeded episodes on 2 workers.
run: build
	$(REFLEX) eval --policy policies/so101-lift --robot so101 --task lift --episodes 50 --seed 1000 --workers 2 \
	  --out .build/run-lift.json

# With CI set (.ci/run sets it), a test whose peer is missing fails instead of skipping.
test: deps test-deps peers
	$(SWIFT) build $(SWIFTFLAGS) --build-tests -Xswiftc -enable-testing
	REFLEX_CHROMIUM="$${REFLEX_CHROMIUM:-$$(command -v chromium || command -v chromium-browser || true)}" \
	  $(SWIFT) test $(SWIFTFLAGS) -Xswiftc -enable-testing --skip-build
	$(MAKE) example
	$(MAKE) fuzz
	$(MAKE) sanitize

# An embedder's package (examples/embed-swift) builds against Reflex by path with only the products it names, drives
# the simulated arm and gives the same chunk as `reflex predict`. It uses the `reflex` the test build made (a
# `--product reflex` build without -enable-testing would rebuild every module), building one only if there is none.
example: deps
	examples/embed-swift/check.sh

# Every fuzz target (Fuzz/, libFuzzer with AddressSanitizer) for FUZZ_SECONDS each, from its seed corpus, which
# holds the reproducer of every crash found and fixed; long runs: FUZZ_SECONDS=3600 scripts/fuzz.sh TARGET.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# The threaded suites (control loop, inference worker, daemon, servo buses, camera channel) under ThreadSanitizer,
# in a build folder of their own; the whole suite under AddressSanitizer is `scripts/sanitize.sh address`.
sanitize: deps
	scripts/sanitize.sh thread

build: deps
	$(SWIFT) build $(SWIFTFLAGS) --product reflex

# Installs the system libraries when pkg-config cannot find them (needs root or sudo).
deps:
	@if ! pkg-config --exists eigen3 bullet-float64 yaml-0.1 2>/dev/null; then \
	  echo "Installing $(DEB_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(DEB_PACKAGES); \
	fi

# Debian packages only the tests need: chromium (headless, for the status page), python3-venv (to make the venv), and
# slurm-wlm with munge (a single-node Slurm cluster, scripts/slurm-local.sh, for the array-job tests).
test-deps:
	@missing=""; \
	  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$$missing chromium"; \
	  [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null 2>&1 || missing="$$missing slurm-wlm"; \
	  [ -x /usr/sbin/munged ] || missing="$$missing munge"; \
	  [ -x "$(REFLEX_PEERS_VENV)/bin/python" ] || $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	  if [ -n "$$missing" ]; then \
	    echo "Installing$$missing"; \
	    SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	  fi

# The peers venv; pip runs again only when a requirements file changed since the last install. LeRobot's list goes
# in without dependency resolution (see its header: lerobot declares torch, which the tests never call).
peers: $(PEERS_STAMP)
$(PEERS_STAMP): $(PEERS_REQUIREMENTS) $(PEERS_LEROBOT_REQUIREMENTS)
	@[ -x "$(REFLEX_PEERS_VENV)/bin/python" ] || { echo "Creating the peers venv in $(REFLEX_PEERS_VENV)"; $(PYTHON) -m venv "$(REFLEX_PEERS_VENV)"; }
	"$(REFLEX_PEERS_VENV)/bin/python" -m pip install --quiet --disable-pip-version-check -r $(PEERS_REQUIREMENTS)
	"$(REFLEX_PEERS_VENV)/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r $(PEERS_LEROBOT_REQUIREMENTS)
	cat $(PEERS_REQUIREMENTS) $(PEERS_LEROBOT_REQUIREMENTS) > "$@"

bench: build
	$(REFLEX) bench nn

clean:
	rm -rf .build
