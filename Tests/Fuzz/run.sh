#!/bin/sh
# Runs every fuzz target (or those named) for SECONDS each and prints the executions per target
# and their total. Usage: run.sh FUZZER SECONDS WORKDIR [TARGET...]
#   FUZZER   the meterfuzz executable (`make fuzz` builds it)
#   WORKDIR  where libFuzzer keeps what it finds: WORKDIR/corpus/<target> (grows from run to run,
#            never committed) and WORKDIR/artifacts/<target>-crash-… (an input that crashed or hung)
# The seeds in Tests/Fuzz/Corpus/<target> are read, never written. Exits 1 when a target crashed,
# hung or ran out of memory; its input is named in the output, and reproduces with
#   METERFUZZ_TARGET=<target> FUZZER <artifact>
set -u
fuzzer=$1 seconds=$2 work=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
targets=${*:-modbus-rtu modbus-values modbus-tcp dlt645 cjt188 rdm6300 pn532 command site-config profile store-record}
# Swift's own crash backtracer would hold a crashed input's process for its interactive timeout.
export SWIFT_BACKTRACE=enable=no
export METERFUZZ_PROFILES="$repo/Hardware/profiles"
mkdir -p "$work/artifacts"
total=0 failed=""
printf '%-14s %12s %10s  %s\n' target executions "exec/s" result
for t in $targets; do
    mkdir -p "$work/corpus/$t"
    log="$work/$t.log"
    # A hang is an input that takes over 10 s; a leak-free decoder stays far under 2 GB.
    ( cd "$repo" && METERFUZZ_TARGET=$t "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" "$work/corpus/$t" "$here/Corpus/$t" ) >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    runs=${runs:-0}
    rate=$([ -n "$time" ] && [ "$time" -gt 0 ] && echo $((runs / time)) || echo -)
    if [ $rc -eq 0 ]; then result=ok; else
        result="FAILED (exit $rc): $(sed -n 's/.*Test unit written to //p' "$log" | tail -1) — see $log"
        failed="$failed $t"
    fi
    printf '%-14s %12s %10s  %s\n' "$t" "$runs" "$rate" "$result"
    total=$((total + runs))
done
printf '%-14s %12s\n' total "$total"
[ -z "$failed" ] || { echo "fuzzing failed:$failed" >&2; exit 1; }
