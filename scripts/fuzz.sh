#!/usr/bin/env bash
# Fuzzes libshmemaphore's receive path for a bounded time with libFuzzer + ASan.
#
#   scripts/fuzz.sh [SECONDS] [LIBFUZZER-FLAG...]     # default 60 s
#   scripts/fuzz.sh 600 -print_coverage=1              # longer, with a coverage listing
#   scripts/fuzz.sh --reproduce FILE                   # run one saved input (a crash) again
#   SHMEMAPHORE_FUZZ_CHECK_RESERVE=1 scripts/fuzz.sh   # also fail when a receive reserves
#                                                      # more of DATA than its payload
#
# The target is Fuzz/ReceivePathFuzz.swift (its header describes the input
# layout and every check), the SwiftPM executable target
# shmemaphore-receive-path-fuzz (Package.swift).  It is built here with
#   swift build -c release --product shmemaphore-receive-path-fuzz
#     --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
#     -Xswiftc -parse-as-library -Xswiftc -DSHMEMAPHORE_LIBFUZZER
# so the core and the C shims it links are instrumented (coverage and ASan)
# as well, and the fuzzer runtime provides main() (Fuzz/ReplayMain.swift says
# why the target has none with SHMEMAPHORE_LIBFUZZER).  The -Xswiftc
# -sanitize=fuzzer,address is not redundant: SwiftPM passes its two
# sanitizers to swiftc as two -sanitize= flags, in no fixed order, and swiftc
# keeps only the last one, so the Swift code would get either coverage or
# ASan; the user's flag comes last and names both (the C code gets both
# either way).
#
# Everything goes to .build-fuzz/ (git-ignored):
#   swiftpm/            SwiftPM's scratch folder (the fuzzer is
#                       swiftpm/release/shmemaphore-receive-path-fuzz); not
#                       .build-fuzz itself, whose artifacts/ SwiftPM owns
#   corpus/             inputs the fuzzer found interesting (kept between runs)
#   artifacts/          crash-*/timeout-*/oom-* inputs, if any
#   fuzz.log            the last run's libFuzzer output
# Fuzz/corpus/ holds the seed inputs (read, never written).
#
# The target opens one channel per process, "fz<this script's pid>-<fuzzer pid>",
# and closes it at exit (the server's close unlinks the four objects).  A
# crash skips that, so this script removes what is left under its prefix.
#
# Prints one verdict line "fuzz: PASS ..." or "fuzz: FAIL ...".
# Exit status: 0 no finding, 1 a finding (or a build failure), 2 usage.
set -uo pipefail
cd "$(dirname "$0")/.."

work=.build-fuzz
log=$work/fuzz.log
prefix="fz$$"

usage() { sed -n '4,6p' "$0" | sed 's/^# *//' >&2; exit 2; }

reproduce=
seconds=60
if [ "${1:-}" = "--reproduce" ]; then
    [ $# -eq 2 ] && [ -f "$2" ] || usage
    reproduce=$2
    shift 2
elif [ $# -ge 1 ]; then
    [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] || usage
    seconds=$1
    shift
fi

cleanup() {
    rm -f /dev/shm/SEG_"$prefix"-* /dev/shm/sem.SEM_"$prefix"-*
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- build ------------------------------------------------------------------
mkdir -p "$work/corpus" "$work/artifacts"
swift_build=(swift build -c release --product shmemaphore-receive-path-fuzz --scratch-path "$work/swiftpm"
             --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
             -Xswiftc -parse-as-library -Xswiftc -DSHMEMAPHORE_LIBFUZZER)
build_start=$(date +%s)
if ! "${swift_build[@]}" >"$work/build.log" 2>&1 || ! bin=$("${swift_build[@]}" --show-bin-path 2>>"$work/build.log" | tail -n 1); then
    # The gold linker warns about every local ASan helper symbol; only the rest is news.
    grep -v "Cannot export local symbol" "$work/build.log" | tail -n 40
    echo "fuzz: FAIL (the fuzzer did not build; log $work/build.log)"
    exit 1
fi
fuzzer=$bin/shmemaphore-receive-path-fuzz
echo "fuzz: built $fuzzer in $(( $(date +%s) - build_start )) s"

# Crashes must reach libFuzzer (which saves the input), not Swift's backtracer.
export SWIFT_BACKTRACE=enable=no
export SHMEMAPHORE_FUZZ_PREFIX=$prefix

if [ -n "$reproduce" ]; then
    "$fuzzer" -artifact_prefix="$work/artifacts/" "$@" "$reproduce"
    status=$?
    [ "$status" -eq 0 ] && echo "fuzz: PASS (the input runs cleanly)" || echo "fuzz: FAIL (status $status)"
    exit "$status"
fi

# ---- run --------------------------------------------------------------------
seeds=$(ls Fuzz/corpus | wc -l)
echo "fuzz: ${seconds} s, seeds Fuzz/corpus ($seeds), corpus $work/corpus, channel prefix $prefix"
run_start=$(date +%s)
"$fuzzer" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" Fuzz/corpus >"$log" 2>&1
status=$?
elapsed=$(( $(date +%s) - run_start ))

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
features=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corpus=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")

left=$(ls /dev/shm | grep -E "^(sem\.SEM_|SEG_)${prefix}-" || true)

if [ "$status" -ne 0 ]; then
    grep -E 'CHECK FAILED|ERROR: |SUMMARY: |Test unit written to' "$log"
    echo "--- last lines of $log:"
    tail -n 25 "$log"
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    [ -n "$artifact" ] && echo "reproduce with: scripts/fuzz.sh --reproduce $artifact"
    echo "fuzz: FAIL after ${runs:-?} executions in $elapsed s (libFuzzer status $status)"
    exit 1
fi
if [ -n "$left" ]; then
    # A clean exit must have closed the channel (atexit in the target).
    echo "left in /dev/shm after a clean exit (removed now):"; echo "$left"
    echo "fuzz: FAIL (the target did not clean up its channel)"
    exit 1
fi
echo "fuzz: PASS ${runs:-?} executions in $elapsed s (${speed:-?}/s); coverage: ${cov:-?} edges, ${features:-?} features; corpus ${corpus:-?} inputs"
