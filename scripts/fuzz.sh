#!/usr/bin/env bash
# Builds Reflex's fuzz targets (Fuzz/, libFuzzer with AddressSanitizer, in .build-fuzz kept out of git) and runs each
# for a set time, starting from its committed seed corpus (Fuzz/Corpus/<target>, which also holds the reproducer of
# every crash found and fixed, so a run first replays them all). Prints one row per target and fails on any crash,
# hang (-timeout) or runaway allocation (-rss_limit_mb / -malloc_limit_mb).
#
#   scripts/fuzz.sh                 # every target, 60 s each (make fuzz; CI)
#   FUZZ_SECONDS=3600 scripts/fuzz.sh safetensors yaml   # long runs, for RELIABILITY.md's table
#
# The corpus a run grows is kept in .build-fuzz/corpus/<target> (reused by the next run), not in git; a new crash's
# input is written to .build-fuzz/artifacts/<target>/ — fix it, then copy it into Fuzz/Corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build=$PWD/.build-fuzz
(cd Fuzz && swift build -c release --build-path "$build" --sanitize=fuzzer --sanitize=address \
    -Xswiftc -parse-as-library -Xswiftc -enable-testing)
binary=$build/release/ReflexFuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls Fuzz/Corpus)
fi
failed=0
printf '%-20s %6s %12s %10s %8s %8s %s\n' target seconds executions exec/s cov features result
for t in "${targets[@]}"; do
    [ -d "Fuzz/Corpus/$t" ] || { echo "no seed corpus Fuzz/Corpus/$t" >&2; exit 2; }
    work=$build/corpus/$t artifacts=$build/artifacts/$t/
    mkdir -p "$work" "$artifacts"
    log=$build/fuzz-$t.log
    set +e
    # Leaks are not findings here: the targets keep nothing, and Swift's runtime metadata caches look like leaks.
    ASAN_OPTIONS=detect_leaks=0 REFLEX_FUZZ_TARGET=$t "$binary" "$work" "Fuzz/Corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    result=ok
    if [ "$status" -ne 0 ]; then
        result="FAILED (exit $status; log $log; input in $artifacts)"
        failed=1
        grep -m5 -E "ERROR: |SUMMARY: |Fatal error|==ERROR" "$log" >&2 || tail -20 "$log" >&2
    fi
    printf '%-20s %6s %12s %10s %8s %8s %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $failed
