#!/usr/bin/env bash
# `make arm64-check`: the aarch64 agent (from `make arm64`) under qemu-aarch64 with the arm64
# sysroot as its root for libraries (-L): --version, `config validate` of the example site, and
# real reads of a simulated Modbus RTU meter and a DL/T 645 meter (the host's metersim serves them
# on ptys); then the MeterProtocols tests built for aarch64 (byte and word order are where an
# architecture bug would show).
#   check.sh ARM64_BUILD_DIR HOST_BIN_DIR   (HOST_BIN_DIR holds an x86 metersim)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir=$(realpath -m "$1"); host_bin=$(realpath -m "$2")
keydir=$("$here/trees.sh")
export METERAGENT_ARM64_TREES=$keydir
sysroot=$keydir/sdk/sysroot
qemu=("$keydir/qemu/bin/qemu-aarch64" -L "$sysroot")
agent=$build_dir/meteragent
[ -x "$agent" ] || { echo "no $agent: run make arm64 first" >&2; exit 1; }
start=$(date +%s)
step() { echo "arm64-check: $*"; }

work=$(mktemp -d /tmp/meteragent-arm64-check.XXXXXX)
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

step "meteragent --version"
"${qemu[@]}" "$agent" --version
file "$agent" | grep -q 'ARM aarch64' || { echo "not an aarch64 binary: $(file "$agent")" >&2; exit 1; }

step "meteragent config validate Hardware/examples/example-site.yaml"
"${qemu[@]}" "$agent" config validate "$repo/Hardware/examples/example-site.yaml"

step "reads over ptys from the host's metersim"
cat > "$work/scenario.yaml" <<YAML
profiles: $repo/Hardware/profiles
seed: 7
lines:
  - id: rtu
    link: $work/ttyRTU
    baud: 9600
    parity: none
    devices:
      - {unit: 1, profile: eastron-sdm120, model: electricity, seed: 101}
  - id: dlt
    link: $work/ttyDLT
    protocol: dlt645
    baud: 9600
    parity: even
    devices:
      - {address: "202611250301", profile: dlt645-2007-generic, model: electricity, password: "000000"}
YAML
cat > "$work/site.yaml" <<YAML
gateway: gw-arm64-check
profiles: $repo/Hardware/profiles
buses:
  - {id: rtu, type: serial, port: $work/ttyRTU, baud: 9600, parity: none, timeout_ms: 1000, retries: 2}
  - {id: dlt, type: serial, port: $work/ttyDLT, baud: 9600, parity: even, protocol: dlt645, timeout_ms: 1500, retries: 2}
devices:
  - {id: flat-101-elec, bus: rtu, unit: 1, profile: eastron-sdm120, poll_interval: 15s}
  - {id: flat-301-elec, bus: dlt, address: "202611250301", profile: dlt645-2007-generic, poll_interval: 15m}
store:
  path: $work/outbox.db
YAML
"$host_bin/metersim" "$work/scenario.yaml" < /dev/null > "$work/metersim.out" 2> "$work/metersim.log" &
sim_pid=$!
for _ in $(seq 1 200); do
    grep -q '^ready' "$work/metersim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/metersim.log" >&2; exit 1; }
    sleep 0.1
done
grep -q '^ready' "$work/metersim.out" || { echo "metersim did not become ready" >&2; cat "$work/metersim.log" >&2; exit 1; }
sed 's/^/  /' "$work/metersim.out"
for device in flat-101-elec flat-301-elec; do
    "${qemu[@]}" "$agent" read "$work/site.yaml" "$device" | tee "$work/$device.out"
    grep -Eq '^energy\.total +[0-9.]+ +kWh +good' "$work/$device.out" || { echo "no good energy.total reading from $device" >&2; exit 1; }
done

step "MeterProtocols tests built for aarch64"
"$here/build.sh" protocols-tests "$build_dir"
tests=$build_dir/protocols/.build/aarch64-unknown-linux-gnu/release/MeterProtocolsPackageTests.xctest
# The test bundle links the shared Swift runtime; qemu takes the path inside the sysroot.
"${qemu[@]}" -E LD_LIBRARY_PATH=/usr/libexec/swift/lib/swift/linux "$tests" --testing-library swift-testing
step "passed in $(( $(date +%s) - start )) s"
