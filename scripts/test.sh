#!/usr/bin/env bash
# Runs every test of libshmemaphore from a clean clone, installing what is
# missing first.  This is the command README.md gives and .ci/run calls.
#
#   1. Swift tests (swift test): unit, in-process, golden layout, hostile
#      peers, permissions, liveness, and two-process C/Swift pairings.
#   2. ABI checks of the release library (scripts/check-abi.sh), and that
#      the library calls libc only through its syscall choke point
#      (scripts/check-syscalls.py).
#   3. The CMake build and ctest: the C API check, C/Swift peer pairings,
#      the C++ interface's checks (g++ and clang++, C++17 and C++20), the
#      Python binding (pip-installed into a venv: pytest, the wheel), the
#      25-pairing conformance matrix (Swift, C, raw C, Python, C++), the hostile-peer suite
#      (Tests/Hostile/hostile.sh; as root it adds a second Unix user), and
#      install + pkg-config/find_package.
#   4. Reliability: the Swift tests under AddressSanitizer (+ UBSan for C) and
#      ThreadSanitizer, the C programs under valgrind (scripts/sanitize.sh),
#      60 s of fuzzing the receive path (scripts/fuzz.sh), and a 100,000-
#      exchange C/Swift soak (scripts/soak.sh).  SHMEMAPHORE_QUICK=1 skips
#      this stage (about 8 minutes) for a fast local run.
#   5. No channel object left in /dev/shm by any of the above.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1

passed=0
failed=0
record() { # record NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "== $1: ok"; else failed=$((failed + 1)); echo "== $1: FAILED"; fi
}
# Runs a quiet build step; shows its log only when it fails.
quietly() { # quietly LOG COMMAND...
    local log=$1; shift
    "$@" >"$log" 2>&1 || { tail -n 60 "$log"; return 1; }
}
channel_objects() { ls /dev/shm | grep -E '^(sem\.)?(SEM|SEG)_' | sort; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
before=$(channel_objects)

echo "== swift test"
status=0
quietly "$logs/build-tests" swift build --build-tests || status=1
if [ "$status" -eq 0 ]; then
    swift test >"$logs/swift-test" 2>&1 || status=1
    grep -E '✘|Test run with|error:' "$logs/swift-test"
    grep -q 'Test run with .* passed' "$logs/swift-test" || status=1
fi
record "swift test" "$status"

echo "== ABI checks"
scripts/check-abi.sh
record "check-abi" $?

echo "== Swift API documentation"
scripts/check-docs.sh
record "check-docs" $?

echo "== syscall choke point (every fallible libc call of the library goes through Syscalls.swift)"
python3 scripts/check-syscalls.py
record "check-syscalls" $?

echo "== CMake build and ctest"
status=0
quietly "$logs/cmake-configure" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release || status=1
[ "$status" -eq 0 ] && { quietly "$logs/cmake-build" cmake --build build -j "$(nproc)" || status=1; }
[ "$status" -eq 0 ] && { ctest --test-dir build --output-on-failure || status=1; }
record "ctest" "$status"

if [ "${SHMEMAPHORE_QUICK:-0}" != 1 ]; then
    echo "== sanitizers (asan, tsan, valgrind)"
    scripts/sanitize.sh all
    record "sanitizers" $?
    echo "== fuzzing the receive path (60 s)"
    scripts/fuzz.sh 60
    record "fuzz" $?
    echo "== soak (100,000 exchanges, C and Swift)"
    scripts/soak.sh 100000
    record "soak" $?
fi

leftover=$(comm -13 <(echo "$before") <(channel_objects))
if [ -n "$leftover" ]; then
    echo "left in /dev/shm (now removed):"; echo "$leftover"
    (cd /dev/shm && echo "$leftover" | xargs -r rm -f --)
fi
record "/dev/shm left clean" "$([ -z "$leftover" ] && echo 0 || echo 1)"

echo
echo "test suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
