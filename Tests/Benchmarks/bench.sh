#!/usr/bin/env bash
# `make bench`: footprint, RTU bus efficiency and throughput against pymodbus. Prints numbers only.
set -euo pipefail
build=${1:-.build}
cd "$(dirname "$0")/../.."
python=${METERAGENT_PYTHON:-.venv/bin/python}
"$python" Tests/Benchmarks/bench.py "$build"
