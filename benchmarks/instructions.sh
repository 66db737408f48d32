#!/usr/bin/env bash
# benchmarks/instructions.sh - instructions per round trip of the fast path,
# counted by valgrind's callgrind (deterministic: no timing, no noise).
#
#   benchmarks/instructions.sh [BUILD]
#
# Runs BUILD/bin/shmemaphore-bench-instructions (benchmarks/bench_instructions.c,
# built by CMake; BUILD defaults to build/) under callgrind for 10,000 and
# 110,000 round trips against BUILD/lib/libshmemaphore.so, and prints the
# difference per round trip, which leaves out start-up and tear-down.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
program="$build/bin/shmemaphore-bench-instructions"
[ -x "$program" ] || { echo "instructions.sh: $program is missing (cmake --build $build)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
count() { # count ROUNDS: instructions the whole run executed
    local out
    out=$(mktemp)
    LD_LIBRARY_PATH="$build/lib" valgrind --tool=callgrind --callgrind-out-file="$out" "$program" "$1" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    rm -f "$out"
}
small=$(count 10000)
large=$(count 110000)
awk -v a="$small" -v b="$large" 'BEGIN { printf "instructions per round trip: %.1f (callgrind, 100,000 round trips)\n", (b - a) / 100000 }'
