#!/usr/bin/env bash
# `make bench`: every figure against a peer measured in the same run; fails when a budget is missed.
set -euo pipefail
build=${1:-.build}
cd "$(dirname "$0")/../.."
python=${METERAGENT_PYTHON:-.venv/bin/python}
exec "$python" Tests/Benchmarks/bench.py "$build"
