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
# layout and every check).  It is compiled here TOGETHER with
# Sources/Shmemaphore/*.swift as one module, with
# `swiftc -sanitize=fuzzer,address -parse-as-library`, so it reaches the
# core's internal API without @testable and without any target in
# Package.swift; the C shims are compiled with clang -fsanitize=address,
# fuzzer-no-link.  The fuzzer runtime provides main().
#
# Everything goes to .build-fuzz/ (git-ignored):
#   receive-path-fuzz   the fuzzer
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
fuzzer=$work/receive-path-fuzz
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
mkdir -p "$work/modules" "$work/corpus" "$work/artifacts"
cat >"$work/modules/module.modulemap" <<EOF
module CShmemaphoreShims {
    header "$PWD/Sources/CShmemaphoreShims/include/CShmemaphoreShims.h"
    export *
}
EOF
build_start=$(date +%s)
# The gold linker warns about every local ASan helper symbol; only the rest is news.
# Every C file of the shims target (the syscall helpers and the fault guard).
shim_objects=()
compile_shims() {
    local source object
    for source in Sources/CShmemaphoreShims/*.c; do
        object="$work/$(basename "$source" .c).o"
        clang -fsanitize=address,fuzzer-no-link -g -O1 -Wall -Wextra \
            -I Sources/CShmemaphoreShims/include -c "$source" -o "$object" || return 1
        shim_objects+=("$object")
    done
}
if ! { compile_shims &&
       swiftc -parse-as-library -module-name ShmemaphoreFuzz -package-name shmemaphore \
            -swift-version 6 -sanitize=fuzzer,address -O -g \
            -I "$work/modules" -I Sources/CStb -Xcc -I/usr/include/stb \
            Sources/Shmemaphore/*.swift Fuzz/*.swift "${shim_objects[@]}" -lstb \
            -o "$fuzzer"; } 2> >(grep -v "Cannot export local symbol" >&2); then
    echo "fuzz: FAIL (the fuzzer did not build)"
    exit 1
fi
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
