# MeterAgent — build, test, run and measure.
# `make run` and `make test` install what they need on a fresh Debian machine (as root or with sudo).

SWIFT       ?= swift
BUILD_DIR   ?= .build
VENV        := .venv
PYTHON      := $(VENV)/bin/python
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libmodbus-dev libserialport-dev libyaml-dev libsqlite3-dev socat mbpoll pkg-config libmosquitto-dev mosquitto mosquitto-clients libssl-dev libnfc-dev libnfc-bin
# Python's own hmac module: the HMAC-SHA256 cross-check of card-id hashing (MeterCryptoTests).
APT_PACKAGES += python3
PY_PEERS    := pymodbus==3.16.1 pyserial==3.5 cryptography==50.0.2 paho-mqtt==2.1.0 rdm6300==0.1.1 nfcpy==1.0.4
# The two DL/T 645 packages install a module of the same name (`dlt645`): one venv each.
VENV_DLT645    := .venv-dlt645
VENV_PYDLT645  := .venv-pydlt645
DLT645_PEERS   := dlt645==3.2.0 loguru==0.7.3 pyserial==3.5
PYDLT645_PEERS := python-dlt645==0.1.4 pyserial==3.5

.PHONY: all deps apt-deps py-deps build test run bench fleet release release-build link-order clean arm64 arm64-check install uninstall fuzz fuzz-build

all: build

deps: apt-deps py-deps

# Installs the Debian packages only when one is missing, so repeated runs stay offline and fast.
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Python peers that no one here wrote (pymodbus, cryptography for Ed25519, rdm6300, paho-mqtt as the head-end
# of the command benchmark) go into a venv inside the repo.
py-deps: $(VENV)/.installed $(VENV_DLT645)/.installed $(VENV_PYDLT645)/.installed

# Also after a change of the Makefile, so that a peer added to PY_PEERS reaches existing venvs
# (pip skips the pinned packages already installed).
$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check $(PY_PEERS)
	touch $@

$(VENV_DLT645)/.installed:
	python3 -m venv $(VENV_DLT645)
	$(VENV_DLT645)/bin/python -m pip install -q --disable-pip-version-check $(DLT645_PEERS)
	touch $@

$(VENV_PYDLT645)/.installed:
	python3 -m venv $(VENV_PYDLT645)
	$(VENV_PYDLT645)/bin/python -m pip install -q --disable-pip-version-check $(PYDLT645_PEERS)
	touch $@

build: apt-deps
	$(SWIFT) build --scratch-path $(BUILD_DIR)

# The release build first: the binary that ships is linked (and its link order checked) on every run.
# Then every fuzz target for FUZZ_TEST_SECONDS from its seeds alone (a smoke run; `make fuzz` is the
# real one): the corpus that long runs grow would take longer than that just to replay.
test: deps release
	$(SWIFT) build --scratch-path $(BUILD_DIR)
	METERAGENT_PYTHON=$(abspath $(PYTHON)) METERAGENT_PYTHON_DLT645=$(abspath $(VENV_DLT645))/bin/python \
		METERAGENT_PYTHON_PYDLT645=$(abspath $(VENV_PYDLT645))/bin/python $(SWIFT) test --scratch-path $(BUILD_DIR) --no-parallel
	FLEET_AGENTS=20 FLEET_SECONDS=20 $(PYTHON) Tests/Fleet/fleet.py $(BUILD_DIR)
	rm -rf $(FUZZ_DIR)/test-work
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) FUZZ_WORK=$(FUZZ_DIR)/test-work

# libFuzzer targets of every decoder that reads outside bytes (Tests/Fuzz/README.md): one executable,
# `meterfuzz`, with address sanitizer, in a scratch path of its own. Package.swift declares it only
# when METERAGENT_FUZZ is set, so no other build compiles or links it. `make fuzz` runs each target
# for FUZZ_SECONDS and prints executions per target and the total; what libFuzzer finds stays in
# FUZZ_WORK (corpus/<target>, artifacts/<target>-crash-…).
FUZZ_DIR          ?= .build-fuzz
# debug: the quicker build, for `make test`; release for long runs.
FUZZ_CONFIG       ?= debug
FUZZ_SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= 4
FUZZ_TARGETS      ?=
FUZZ_WORK         ?= $(FUZZ_DIR)/work
# Empty: SwiftPM's default (one job per core).
FUZZ_JOBS         ?=
# The targets import modules @testable, so a release build (FUZZ_CONFIG=release: about twice the
# executions per second, twice the build time) needs -enable-testing.
FUZZ_FLAGS := -c $(FUZZ_CONFIG) --scratch-path $(FUZZ_DIR) $(if $(FUZZ_JOBS),--jobs $(FUZZ_JOBS)) \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing --product meterfuzz

fuzz-build: apt-deps
	METERAGENT_FUZZ=1 $(SWIFT) build $(FUZZ_FLAGS)

fuzz: fuzz-build
	./Tests/Fuzz/run.sh $(FUZZ_DIR)/$(FUZZ_CONFIG)/meterfuzz $(FUZZ_SECONDS) $(FUZZ_WORK) $(FUZZ_TARGETS)

run: deps build
	./Hardware/examples/run-demo.sh $(BUILD_DIR)/debug

bench: deps release
	METERAGENT_PYTHON=$(abspath $(PYTHON)) ./Tests/Benchmarks/bench.sh $(BUILD_DIR)

# FLEET_AGENTS agents (default 200) on one broker and a bridged one, FLEET_SECONDS (default 60) each.
fleet: deps release
	$(PYTHON) Tests/Fleet/fleet.py $(BUILD_DIR)

# Static Swift stdlib, stripped: the binary that ships to gateways, with the same flags on every
# architecture. lld folds identical functions (--icf=all) and packs the PIE's relative relocations
# (RELR, needs glibc 2.36+ on the gateway, as in Debian 12): about 1.3 MB less flash and fewer dirty
# pages. Resident memory: every function in a section of its own and the functions a running agent
# executes first (Link/hot-functions.order, from `make link-order`), so that the code in use sits
# on few pages: the kernel maps a binary's pages 64 kB at a time, and measured side by side the
# order keeps 1.1 MB less of the binary resident (100 TCP meters with MQTT, 2026-12-05). The
# release build fails when the order names a function that no longer exists: run `make
# link-order` after changing hot code. No dynamic symbol table for the executable (nothing loads
# symbols from it); libstdc++ linked statically (the Swift runtime needs a few functions of it;
# the shared library costs ~1 MB resident and a runtime package on the gateway).
LINK_DIR    := $(abspath Sources/meteragent/Link)
STATIC_CXX  := $(abspath $(BUILD_DIR))/static-c++
# $(1) is the folder with the architecture's libstdc++.a.
release_flags = -c release --static-swift-stdlib -Xswiftc -Osize -Xswiftc -use-ld=lld \
	-Xswiftc -Xfrontend -Xswiftc -function-sections -Xswiftc -L -Xswiftc $(1) \
	-Xlinker --icf=all -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic \
	-Xlinker --symbol-ordering-file=$(LINK_DIR)/hot-functions.order -Xlinker --no-warn-symbol-ordering
RELEASE_FLAGS := $(call release_flags,$(STATIC_CXX))

release: release-build
	./Tests/Benchmarks/check-link-order.sh $(BUILD_DIR)/release/meteragent $(LINK_DIR)/hot-functions.order

# The release link without the check of its order (what `make link-order` starts from).
release-build: apt-deps
	@mkdir -p $(STATIC_CXX); cxx=$$(clang -print-file-name=libstdc++.a); \
	if [ -f "$$cxx" ]; then ln -sf "$$cxx" $(STATIC_CXX)/libstdc++.a; else \
		echo "error: no static libstdc++ (libstdc++.a) for the release link: install the libstdc++-N-dev package of the compiler's GCC (Debian 12: libstdc++-12-dev)" >&2; exit 1; fi
	@# SwiftPM reuses objects compiled with other -Xswiftc flags, and does not see the link inputs change.
	@if [ "$$(cat $(BUILD_DIR)/release-flags 2>/dev/null)" != "$(RELEASE_FLAGS)" ]; then rm -rf "$$(readlink -f $(BUILD_DIR)/release)"; fi
	@mkdir -p $(BUILD_DIR) && echo "$(RELEASE_FLAGS)" > $(BUILD_DIR)/release-flags
	@rm -f $(BUILD_DIR)/release/meteragent
	$(SWIFT) build --scratch-path $(BUILD_DIR) $(RELEASE_FLAGS)
	strip -o $(BUILD_DIR)/meteragent $(BUILD_DIR)/release/meteragent
	@ls -l $(BUILD_DIR)/meteragent

# Regenerates Link/hot-functions.order from callgrind profiles of the demo and of ten TCP meters.
link-order: deps release-build
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends valgrind; }
	RELEASE_FLAGS='$(RELEASE_FLAGS)' ./Tests/Benchmarks/link-order.sh $(BUILD_DIR)

# aarch64 gateways (README, "Building for a gateway"): the shipped agent built with Debian trixie's
# Swift 6.0.3 in a Debian amd64 tree against a Debian arm64 sysroot, both made once by mmdebstrap
# and cached in $(ARM64_CACHE) keyed by package versions (about 1.1 GB of downloads and 5 GB
# of disk the first time). The release flags are x86's; libstdc++.a comes from the sysroot. Prints
# the stripped size and the oldest glibc the binary accepts. Runs on glibc 2.39 and newer (Debian 13,
# Ubuntu 24.04) without Swift; libmosquitto and libnfc are loaded from the gateway at run time.
ARM64_BUILD_DIR ?= .build-arm64
ARM64_CACHE     ?= /var/cache/meteragent-arm64
export METERAGENT_ARM64_CACHE := $(ARM64_CACHE)
ARM64_RELEASE_FLAGS := $(call release_flags,$(abspath $(ARM64_BUILD_DIR))/static-c++)

arm64:
	$(SUDO) ./Hardware/arm64/build.sh release $(ARM64_BUILD_DIR) $(ARM64_RELEASE_FLAGS)

# Under qemu-aarch64 (trixie's, extracted into the cache): --version, validate of the example site,
# reads of a simulated Modbus RTU and DL/T 645 meter over ptys (the host's metersim), and the
# MeterProtocols tests built for aarch64.
arm64-check: arm64
	$(SWIFT) build --scratch-path $(BUILD_DIR) --product metersim
	$(SUDO) ./Hardware/arm64/check.sh $(ARM64_BUILD_DIR) $(BUILD_DIR)/debug

# Installs the agent as a service (Hardware/systemd/README.md): the binary, the profiles where the
# site config loader looks for them ($(PREFIX)/share/meteragent/profiles, /usr/share/… with the
# default PREFIX), the board descriptions, the systemd unit and sysusers file, the udev rules, and
# an example site config next to where the unit expects the real one (never overwriting it).
# Installs BIN, by default the stripped release binary: `make release && sudo make install`.
# DESTDIR stages the files for a package; uninstall removes exactly what install put there
# (not /etc/meteragent/site.yaml, not /var/lib/meteragent: the technician's config and the outbox).
PREFIX      ?= /usr
SYSCONFDIR  ?= /etc
BIN         ?= $(BUILD_DIR)/meteragent
BINDIR      := $(PREFIX)/bin
DATADIR     := $(PREFIX)/share/meteragent
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
UDEVDIR     ?= $(PREFIX)/lib/udev/rules.d
INSTALLED_FILES := $(BINDIR)/meteragent $(UNITDIR)/meteragent.service $(SYSUSERSDIR)/meteragent.conf $(TMPFILESDIR)/meteragent.conf \
	$(UDEVDIR)/61-meteragent-rs485.rules $(SYSCONFDIR)/meteragent/site.yaml.example

install:
	@test -x "$(BIN)" || { echo "$(BIN) not found: run 'make release' first, or pass BIN=path/to/meteragent"; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/profiles $(DESTDIR)$(DATADIR)/boards $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(UDEVDIR) $(DESTDIR)$(SYSCONFDIR)/meteragent
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/meteragent
	install -m 0644 Hardware/profiles/*.yaml $(DESTDIR)$(DATADIR)/profiles/
	install -m 0644 Hardware/boards/*.md Hardware/boards/*.yaml $(DESTDIR)$(DATADIR)/boards/
	sed -e 's|/usr/bin/meteragent|$(BINDIR)/meteragent|g' -e 's|/etc/meteragent|$(SYSCONFDIR)/meteragent|g' \
		Hardware/systemd/meteragent.service > $(DESTDIR)$(UNITDIR)/meteragent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/meteragent.service
	install -m 0644 Hardware/systemd/meteragent.sysusers $(DESTDIR)$(SYSUSERSDIR)/meteragent.conf
	sed -e 's|/etc/meteragent|$(SYSCONFDIR)/meteragent|g' Hardware/systemd/meteragent.tmpfiles > $(DESTDIR)$(TMPFILESDIR)/meteragent.conf
	chmod 0644 $(DESTDIR)$(TMPFILESDIR)/meteragent.conf
	install -m 0644 Hardware/udev/61-meteragent-rs485.rules $(DESTDIR)$(UDEVDIR)/
	install -m 0644 Hardware/boards/raspberry-pi-rs485-hat-site.yaml $(DESTDIR)$(SYSCONFDIR)/meteragent/site.yaml.example
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		command -v systemd-sysusers >/dev/null && systemd-sysusers $(SYSUSERSDIR)/meteragent.conf || true; \
		command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create $(TMPFILESDIR)/meteragent.conf || true; \
		command -v udevadm >/dev/null && udevadm control --reload || true; \
		command -v systemctl >/dev/null && systemctl daemon-reload || true; \
		echo "installed: edit $(SYSCONFDIR)/meteragent/site.yaml (from site.yaml.example), then systemctl enable --now meteragent"; \
	fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	rm -rf $(DESTDIR)$(DATADIR)
	rmdir $(DESTDIR)$(SYSCONFDIR)/meteragent 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then command -v systemctl >/dev/null && systemctl daemon-reload || true; fi

clean:
	rm -rf $(BUILD_DIR) $(ARM64_BUILD_DIR) $(FUZZ_DIR) $(VENV) $(VENV_DLT645) $(VENV_PYDLT645) .run
