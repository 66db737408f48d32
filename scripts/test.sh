#!/usr/bin/env bash
# Runs every test of libshmemaphore from a clean clone, installing what is
# missing first.  This is the command README.md gives and .ci/run calls.
#
#   1. Swift tests (swift test): unit, in-process, golden layout, hostile
#      peers, permissions, and two-process C/Swift pairings.
#   2. ABI checks of the release library (scripts/check-abi.sh).
#   3. No channel object left in /dev/shm by any of the above.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1

passed=0
failed=0
record() { # record NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "== $1: ok"; else failed=$((failed + 1)); echo "== $1: FAILED"; fi
}

before=$(ls /dev/shm | grep -E '^(sem\.)?(SEM|SEG)_shmtest-' | sort)

echo "== swift test"
log=$(mktemp)
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\] ' && swift test 2>&1 | tee "$log" | grep -E '✘|passed after .* seconds\.$|failed after|Test run|error:'
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && grep -q 'Test run with .* passed' "$log" || status=1
record "swift test ($(grep -oE 'Test run with [0-9]+ tests' "$log" | grep -oE '[0-9]+' || echo 0) tests)" "$status"
rm -f "$log"

echo "== ABI checks"
scripts/check-abi.sh
record "check-abi" $?

after=$(ls /dev/shm | grep -E '^(sem\.)?(SEM|SEG)_shmtest-' | sort)
leftover=$(comm -13 <(echo "$before") <(echo "$after"))
if [ -n "$leftover" ]; then
    echo "left in /dev/shm (now removed):"; echo "$leftover"
    (cd /dev/shm && echo "$leftover" | xargs -r rm -f --)
fi
record "/dev/shm left clean" "$([ -z "$leftover" ] && echo 0 || echo 1)"

echo
echo "test suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
