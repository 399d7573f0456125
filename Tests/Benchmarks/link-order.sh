#!/usr/bin/env bash
# `make link-order`: profiles `meteragent run` under callgrind on two workloads -- the demo site
# (every driver, the store and the MQTT uplink; Hardware/examples/run-demo.sh) and ten Modbus TCP
# meters stored and forwarded to a mosquitto of its own, as `make bench` runs a gateway -- and
# writes the functions they executed to Sources/meteragent/Link/hot-functions.order. The release
# link puts them first, so the code a running gateway touches sits on as few pages as possible. Run it again after large changes:
# names that no longer exist are ignored by the linker, new ones end up among the cold code.
# RELEASE_FLAGS (from the Makefile): the release link, repeated here to get lld's map of it.
set -euo pipefail
build=${1:-.build}
seconds=${2:-40}
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d)
sim_pid=""
broker_pid=""
cleanup() {
    [ -z "$sim_pid" ] || kill "$sim_pid" 2>/dev/null || true
    [ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

AGENT_WRAPPER="valgrind --tool=callgrind --demangle=no --dump-line=no --callgrind-out-file=$work/demo.out" \
    DEMO_SECONDS=$seconds Hardware/examples/run-demo.sh "$build/release" > "$work/demo.log" 2>&1 || {
    echo "the profiled demo run failed:"; tail -20 "$work/demo.log"; exit 1; }

printf 'profiles: %s/Hardware/profiles\ntcp:\n  - {port: 16500, count: 10, devices: [{unit: 1, profile: eastron-sdm630, model: electricity}]}\n' \
    "$root" > "$work/scenario.yaml"
{
    printf 'profiles: %s/Hardware/profiles\ngateway: gw-profile\nbuses:\n' "$root"
    for port in $(seq 16500 16509); do printf '  - {id: tcp-%s, type: tcp, host: 127.0.0.1, port: %s}\n' "$port" "$port"; done
    printf 'devices:\n'
    for port in $(seq 16500 16509); do printf '  - {id: m-%s, bus: tcp-%s, unit: 1, profile: eastron-sdm630, poll_interval: 1s}\n' "$port" "$port"; done
    printf 'mqtt: {host: 127.0.0.1, port: 16510}\n'
} > "$work/site.yaml"
printf 'listener 16510 127.0.0.1\nallow_anonymous true\npersistence false\n' > "$work/mosquitto.conf"
[ "$(id -u)" != 0 ] || echo 'user root' >> "$work/mosquitto.conf"
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!
"$build/release/metersim" "$work/scenario.yaml" > "$work/metersim.out" 2> "$work/metersim.log" &
sim_pid=$!
for _ in $(seq 1 100); do grep -q '^ready' "$work/metersim.out" && break; sleep 0.1; done
valgrind --tool=callgrind --demangle=no --dump-line=no --callgrind-out-file="$work/tcp.out" \
    "$build/release/meteragent" run "$work/site.yaml" --duration "$seconds" --store "$work/outbox.db" \
    > "$work/tcp.log" 2>&1

rm -f "$build/release/meteragent"
swift build --scratch-path "$build" ${RELEASE_FLAGS:?run through make link-order} --product meteragent \
    -Xlinker -Map="$work/meteragent.map" > "$work/link.log" 2>&1 || { cat "$work/link.log"; exit 1; }
# The TCP workload first: its few functions of its own then sit between the shared ones and the
# demo's many (the serial protocols, the uplink).
python3 Tests/Benchmarks/hot_functions.py "$build/release/meteragent" "$work/meteragent.map" "$work/tcp.out" "$work/demo.out" \
    > Sources/meteragent/Link/hot-functions.order
echo "Sources/meteragent/Link/hot-functions.order: $(wc -l < Sources/meteragent/Link/hot-functions.order) functions"
