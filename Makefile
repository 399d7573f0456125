# MeterAgent — build, test, run and measure.
# `make run` and `make test` install what they need on a fresh Debian machine (as root or with sudo).

SWIFT       ?= swift
BUILD_DIR   ?= .build
VENV        := .venv
PYTHON      := $(VENV)/bin/python
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libmodbus-dev libserialport-dev libyaml-dev libsqlite3-dev socat mbpoll pkg-config libmosquitto-dev mosquitto mosquitto-clients
PY_PEERS    := pymodbus==3.16.1 pyserial==3.5
# The two DL/T 645 packages install a module of the same name (`dlt645`): one venv each.
VENV_DLT645    := .venv-dlt645
VENV_PYDLT645  := .venv-pydlt645
DLT645_PEERS   := dlt645==3.2.0 loguru==0.7.3 pyserial==3.5
PYDLT645_PEERS := python-dlt645==0.1.4 pyserial==3.5

.PHONY: all deps apt-deps py-deps build test run bench release link-order clean cross-aarch64

all: build

deps: apt-deps py-deps

# Installs the Debian packages only when one is missing, so repeated runs stay offline and fast.
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Python peers that no one here wrote (pymodbus) go into a venv inside the repo.
py-deps: $(VENV)/.installed $(VENV_DLT645)/.installed $(VENV_PYDLT645)/.installed

$(VENV)/.installed:
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

test: deps
	$(SWIFT) build --scratch-path $(BUILD_DIR)
	METERAGENT_PYTHON=$(abspath $(PYTHON)) METERAGENT_PYTHON_DLT645=$(abspath $(VENV_DLT645))/bin/python \
		METERAGENT_PYTHON_PYDLT645=$(abspath $(VENV_PYDLT645))/bin/python $(SWIFT) test --scratch-path $(BUILD_DIR) --no-parallel

run: deps build
	./Hardware/examples/run-demo.sh $(BUILD_DIR)/debug

bench: deps release
	METERAGENT_PYTHON=$(abspath $(PYTHON)) ./Tests/Benchmarks/bench.sh $(BUILD_DIR)

# Static Swift stdlib, stripped: the binary that ships to gateways.
# lld folds identical functions (--icf=all) and packs the PIE's relative relocations (RELR, needs
# glibc 2.36+ on the gateway, as in Debian 12): about 1.3 MB less flash and fewer dirty pages.
# Resident memory: every function in a section of its own, the functions a running agent executes
# first (Link/hot-functions.order, from `make link-order`) and the symbol-less ones grouped
# (Link/private-functions.ld), so that the code in use sits on few pages; no dynamic symbol table
# for the executable (nothing loads symbols from it); libstdc++ linked statically (the Swift runtime
# needs a few functions of it; loading the shared library costs ~1 MB resident and a runtime
# package on the gateway).
LINK_DIR    := $(abspath Sources/meteragent/Link)
STATIC_CXX  := $(abspath $(BUILD_DIR))/static-c++
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -Osize -Xswiftc -use-ld=lld \
	-Xswiftc -Xfrontend -Xswiftc -function-sections -Xswiftc -L -Xswiftc $(STATIC_CXX) \
	-Xlinker --icf=all -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic \
	-Xlinker --symbol-ordering-file=$(LINK_DIR)/hot-functions.order -Xlinker --no-warn-symbol-ordering \
	-Xlinker -T -Xlinker $(LINK_DIR)/private-functions.ld

release: apt-deps
	@mkdir -p $(STATIC_CXX); cxx=$$(clang -print-file-name=libstdc++.a); \
	if [ -f "$$cxx" ]; then ln -sf "$$cxx" $(STATIC_CXX)/libstdc++.a; else echo "no static libstdc++: linking the shared one"; fi
	@# SwiftPM reuses objects compiled with other -Xswiftc flags, and does not see the link inputs change.
	@if [ "$$(cat $(BUILD_DIR)/release-flags 2>/dev/null)" != "$(RELEASE_FLAGS)" ]; then rm -rf "$$(readlink -f $(BUILD_DIR)/release)"; fi
	@mkdir -p $(BUILD_DIR) && echo "$(RELEASE_FLAGS)" > $(BUILD_DIR)/release-flags
	@rm -f $(BUILD_DIR)/release/meteragent
	$(SWIFT) build --scratch-path $(BUILD_DIR) $(RELEASE_FLAGS)
	strip -o $(BUILD_DIR)/meteragent $(BUILD_DIR)/release/meteragent
	@ls -l $(BUILD_DIR)/meteragent

# Regenerates Link/hot-functions.order from callgrind profiles of the demo and of ten TCP meters.
link-order: deps release
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends valgrind; }
	RELEASE_FLAGS='$(RELEASE_FLAGS)' ./Tests/Benchmarks/link-order.sh $(BUILD_DIR)

# Cross-build for aarch64 gateways. Needs a Swift SDK for the target, which this build machine
# does not have; install one (Swift's static Linux SDK, or a Debian arm64 sysroot SDK built with
# swift-sdk-generator) and then:
#   swift sdk list
#   swift build -c release --swift-sdk aarch64-swift-linux-musl --static-swift-stdlib
# The C libraries (libmodbus, libserialport, libyaml) must be present in the SDK's sysroot.
cross-aarch64:
	$(SWIFT) build --scratch-path $(BUILD_DIR)-aarch64 -c release --swift-sdk $${SWIFT_SDK:-aarch64-swift-linux-musl} --static-swift-stdlib

clean:
	rm -rf $(BUILD_DIR) $(VENV) $(VENV_DLT645) $(VENV_PYDLT645) .run
