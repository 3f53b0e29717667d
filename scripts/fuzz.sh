#!/usr/bin/env bash
# Builds Reflex's fuzz targets (Fuzz/, libFuzzer with AddressSanitizer, in .build-fuzz kept out of git) and runs each
# for a set time, starting from its committed seed corpus (Fuzz/Corpus/<target>, which also holds the reproducer of
# every crash found and fixed, so a run first replays them all). Prints one row per target and fails on any crash,
# hang (-timeout) or runaway allocation (-rss_limit_mb / -malloc_limit_mb).
#
#   scripts/fuzz.sh                 # every target, 60 s each, one per core at a time (make fuzz; make test)
#   FUZZ_SECONDS=3600 scripts/fuzz.sh safetensors yaml   # long runs, for RELIABILITY.md's table
#   FUZZ_SECONDS=3600 FUZZ_RUNS=10000000 scripts/fuzz.sh json   # stop at 10M executions or the hour, whichever first
#
# The corpus a run grows is kept in .build-fuzz/corpus/<target> (reused by the next run), not in git; a new crash's
# input is written to .build-fuzz/artifacts/<target>/ — fix it, then copy it into Fuzz/Corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:--1}   # libFuzzer's -runs: -1 is unlimited
build=$PWD/.build-fuzz
# Not `--sanitize=fuzzer --sanitize=address`: SwiftPM hands those to swiftc as separate -sanitize= flags in an order
# that changes from run to run (a set) — so every other build started from nothing — and swiftc keeps only the last,
# so "-sanitize=fuzzer -sanitize=address" compiled ASan without coverage. One SwiftPM sanitizer, fuzzer (it also
# tells SwiftPM that libFuzzer brings main), then the combined flag last for every Swift module and the link, and
# AddressSanitizer for the C targets through -Xcc. Without the cached build manifest: SwiftPM would not notice source
# files added to Reflex (a path dependency of Fuzz/) since the last build.
(cd Fuzz && swift build -c release --build-path "$build" --sanitize=fuzzer --disable-build-manifest-caching \
    -Xswiftc -parse-as-library -Xswiftc -enable-testing -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address)
binary=$build/release/ReflexFuzz
# Reflex's Swift modules alone hold well over 100,000 edges; the C targets about 6,500.
min_counters=100000
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls Fuzz/Corpus)
fi
# One target's run; prints its row, and returns non-zero on a finding.
run_target() {
    local t=$1 work=$build/corpus/$1 artifacts=$build/artifacts/$1/ log=$build/fuzz-$1.log status
    mkdir -p "$work" "$artifacts"
    local start=$SECONDS
    set +e
    # Leaks are not findings here: the targets keep nothing, and Swift's runtime metadata caches look like leaks.
    ASAN_OPTIONS=detect_leaks=0 REFLEX_FUZZ_TARGET=$t "$binary" "$work" "Fuzz/Corpus/$t" \
        -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    local execs rate cov ft result=ok
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
    # A binary whose Swift modules lack coverage instrumentation fuzzes blind (6,454 counters, the C targets' alone,
    # instead of ~220,000: the flag-order trap above); that run proves nothing, so it fails.
    local counters
    counters=$(sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -1)
    if [ "$status" -eq 0 ] && [ "${counters:-0}" -lt "$min_counters" ]; then
        status=3
        echo "$t: only ${counters:-no} coverage counters (expected at least $min_counters): the Swift code is not instrumented" >&2
    fi
    if [ "$status" -ne 0 ]; then
        result="FAILED (exit $status; log $log; input in $artifacts)"
        grep -m5 -E "ERROR: |SUMMARY: |Fatal error|crashed" "$log" >&2 || tail -20 "$log" >&2
    fi
    printf '%-20s %6s %12s %10s %8s %8s %s\n' "$t" "$((SECONDS - start))" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
    return "$status"
}

for t in "${targets[@]}"; do
    [ -d "Fuzz/Corpus/$t" ] || { echo "no seed corpus Fuzz/Corpus/$t" >&2; exit 2; }
done
printf '%-20s %6s %12s %10s %8s %8s %s\n' target seconds executions exec/s cov features result
# FUZZ_JOBS targets at a time (default: one per core).
jobs=${FUZZ_JOBS:-$(nproc)}
failed=0
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit $failed
