#!/usr/bin/env bash
# Store-and-forward benchmark: durable ingest of an outage's readings into a new outbox (readings/s,
# bytes on disk per reading), then replay of that backlog to a local broker, side by side with
# `mosquitto_pub` publishing the same number of QoS 1 messages to the same broker in the same run.
#
#   Tests/Benchmarks/uplink-bench.sh [BUILD_DIR] [COUNT]      (defaults: .build, 100000)
#
# BUILD_DIR holds the `uplink-bench` tool (`swift build --product uplink-bench`); debug and
# release builds are looked for in that order of preference: release, debug. The broker runs on
# 127.0.0.1 on a free port with its files in a temporary directory; everything started here is
# stopped by pid on exit.
set -euo pipefail
build=${1:-.build}
count=${2:-100000}
cd "$(dirname "$0")/../.."

tool=""
for candidate in "$build/release/uplink-bench" "$build/debug/uplink-bench" "$build/uplink-bench"; do
    [ -x "$candidate" ] && { tool=$candidate; break; }
done
[ -n "$tool" ] || { echo "uplink-bench not built in $build (swift build --scratch-path $build -c release --product uplink-bench)" >&2; exit 1; }

work=$(mktemp -d /tmp/uplink-bench.XXXXXX)
broker_pid=""
sub_pid=""
cleanup() {
    for pid in $sub_pid $broker_pid; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "max_queued_messages 1000000"
    if [ "$(id -u)" = 0 ]; then echo "user root"; fi
} > "$work/mosquitto.conf"
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto_bin" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

now_ms() { date +%s%3N; }

echo "uplink benchmark: $count readings, mosquitto $("$mosquitto_bin" -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$port"

# A subscriber (QoS 1) counts what actually arrived from the agent's replay.
mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t 'meteragent/gw-bench/readings' > "$work/received" 2> "$work/sub.log" &
sub_pid=$!
sleep 0.3

# 1. The agent's path: store filled during the "outage", then forwarder + session drain it.
"$tool" --broker "127.0.0.1:$port" --count "$count" --store "$work/outbox.db" | sed 's/^/  agent /'
sleep 0.5
kill "$sub_pid" 2>/dev/null || true
wait "$sub_pid" 2>/dev/null || true
sub_pid=""
arrived=$(python3 -c '
import json, sys
seqs = [r["seq"] for line in open(sys.argv[1]) if line.strip() for r in json.loads(line)["readings"]]
ok = sorted(set(seqs)) == list(range(1, len(set(seqs)) + 1))
print(len(seqs), "readings in", sum(1 for l in open(sys.argv[1]) if l.strip()), "messages at the subscriber,",
      "sequence 1.." + str(max(seqs) if seqs else 0), "complete" if ok else "WITH GAPS")' "$work/received")
echo "  agent subscriber: $arrived"

# 2. The reference: mosquitto_pub, one QoS 1 message per reading, same readings, same broker.
python3 -c '
import sys
n = int(sys.argv[1])
for i in range(n):
    v = "%d.%02d" % (10000 + i // 50, i % 100)
    print("{\"seq\":%d,\"device\":\"flat-%d-elec\",\"point\":\"energy.import.total\",\"value\":%s,\"unit\":\"kWh\",\"ts\":%d,\"quality\":\"good\",\"billing\":true}" % (i + 1, 100 + i % 50, v, 1764052800000 + i * 1000))
' "$count" > "$work/lines"
start=$(now_ms)
mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t bench/mosquitto_pub -l < "$work/lines"
end=$(now_ms)
elapsed=$((end - start))
[ "$elapsed" -gt 0 ] || elapsed=1
echo "  mosquitto_pub -q 1 -l: $count messages in $(awk "BEGIN{printf \"%.2f\", $elapsed/1000}") s ($((count * 1000 / elapsed)) messages/s), one reading per message"
