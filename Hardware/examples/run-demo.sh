#!/usr/bin/env bash
# The main job on the embedded default: simulated meters of a small residential building
# (`metersim` with demo-scenario.yaml) read by `meteragent run` with demo-site.yaml.
# Readings go to stdout as JSON lines; Ctrl-C stops everything this script started.
set -euo pipefail
bin=${1:-.build/debug}
cd "$(dirname "$0")/../.."
mkdir -p .run

sim_pid=""
agent_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$bin/metersim" Hardware/examples/demo-scenario.yaml > .run/metersim.out 2> .run/metersim.log &
sim_pid=$!
for _ in $(seq 1 100); do
    grep -q '^ready' .run/metersim.out 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { echo "metersim failed:"; cat .run/metersim.log; exit 1; }
    sleep 0.1
done
grep -q '^ready' .run/metersim.out || { echo "metersim did not become ready"; cat .run/metersim.log; exit 1; }
echo "simulated meters:"; grep -v '^ready' .run/metersim.out | sed 's/^/  /'
echo "agent: meteragent run Hardware/examples/demo-site.yaml (Ctrl-C to stop)"
"$bin/meteragent" run Hardware/examples/demo-site.yaml &
agent_pid=$!
wait "$agent_pid"
