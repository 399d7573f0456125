#!/usr/bin/env bash
# `make bench`: footprint, RTU bus efficiency and throughput against pymodbus. Prints numbers only.
set -euo pipefail
build=${1:-.build}
cd "$(dirname "$0")/../.."
python=${METERAGENT_PYTHON:-.venv/bin/python}
"$python" Tests/Benchmarks/bench.py "$build"
# Store-and-forward: durable ingest of an outage's 100,000 readings, then their replay to a local
# broker, side by side with mosquitto_pub sending as many QoS 1 messages.
Tests/Benchmarks/uplink-bench.sh "$build" 100000
