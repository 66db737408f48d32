#!/usr/bin/env bash
# Runs libshmemaphore's tests under sanitizers and its C programs under valgrind.
#
#   scripts/sanitize.sh [asan|tsan|valgrind|all]     # default: all, in that order
#
# asan      swift build --build-tests / swift test --skip-build with
#           --sanitize=address plus UBSan for the C code (-Xcc -fsanitize=undefined),
#           scratch path .build-asan.  SwiftPM 6.3 refuses --sanitize=undefined on
#           Linux (swiftc: "unsupported option '-sanitize=undefined' for target
#           'x86_64-unknown-linux-gnu'"), alone or with address; Swift code traps on
#           overflow and out-of-bounds by itself, so UBSan is only for the C targets,
#           and its handlers come with the ASan runtime that swiftc links into
#           every executable.  LeakSanitizer is on.
# tsan      the same with --sanitize=thread, scratch path .build-tsan.
#           Both run their tests with every CPU kept busy by another process
#           (one busy shell loop per CPU, at the tests' own priority), so a
#           timeout tuned to an idle machine fails here and not on a user's
#           busy one; SHMEMAPHORE_SANITIZE_LOAD=N runs N loops instead (0: none).
# valgrind  memcheck over the C programs of the CMake build (default folder
#           build/; SHMEMAPHORE_BUILD_DIR=DIR for another, configured Release
#           if new), each in a real session: the C API check, the C examples
#           (client + server, images saved as PNG), and the C test peer in both
#           roles (the steps of the ctest peer pairings).  Suppressions:
#           scripts/valgrind.supp (Swift runtime noise only, explained there).
#
# The C programs that the Swift tests run (Tests/CPeer, Tests/Conformance/
# raw_peer.c) are SwiftPM targets too, so the same sanitized build makes them
# with the same sanitizer as the library (Package.swift, cPeerSettings).
#
# Each mode prints one verdict line "sanitize MODE: PASS|FAIL (...)", and the
# script ends with a summary and timings.  Exit status: 0 all clean, 1 any
# finding or failure, 2 usage.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2; }
[ $# -le 1 ] || usage
mode=${1:-all}
case $mode in asan | tsan | valgrind | all) ;; *) usage ;; esac

jobs=$(nproc 2>/dev/null || echo 2)
load=${SHMEMAPHORE_SANITIZE_LOAD:-$jobs}
case $load in '' | *[!0-9]*) echo "SHMEMAPHORE_SANITIZE_LOAD must be a number of loops" >&2; exit 2 ;; esac

# The CPU load: started just before a test run, and never outliving this script.
load_pids=()
start_load() {
    local _
    for _ in $(seq 1 "$load"); do
        sh -c 'while :; do :; done' &
        load_pids+=($!)
    done
}
stop_load() {
    [ ${#load_pids[@]} -gt 0 ] || return 0
    kill "${load_pids[@]}" 2>/dev/null
    wait "${load_pids[@]}" 2>/dev/null
    load_pids=()
}
cleanup=()
trap 'stop_load; for command in "${cleanup[@]}"; do eval "$command"; done' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

summary=()
failed=0
verdict() { # verdict MODE STATUS SECONDS DETAIL
    local word=PASS
    [ "$2" -eq 0 ] || { word=FAIL; failed=1; }
    echo "sanitize $1: $word ($4; $3 s)"
    summary+=("$(printf '%-9s %s %5s s  %s' "$1" "$word" "$3" "$4")")
}

# quietly LOG COMMAND...: runs a build step, shows its log's tail only on failure.
quietly() {
    local log=$1; shift
    "$@" >"$log" 2>&1 || { grep -v "Cannot export local symbol" "$log" | tail -n 40; return 1; }
}

# ---- asan / tsan: the Swift test suite --------------------------------------

# swift_suite NAME SCRATCH SANITIZER-FLAGS... -- ENV-ASSIGNMENTS...
swift_suite() {
    local name=$1 scratch=$2; shift 2
    local flags=() environment=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags+=("$1"); shift; done
    shift
    environment=("$@")
    local start=$SECONDS build_log="$scratch/sanitize-build.log" test_log="$scratch/sanitize-test.log"
    echo "== $name: swift build --build-tests ${flags[*]} --scratch-path $scratch"
    if ! quietly "$build_log" swift build --build-tests "${flags[@]}" --scratch-path "$scratch"; then
        verdict "$name" 1 $((SECONDS - start)) "build failed, log $build_log"
        return
    fi
    local built=$((SECONDS - start))
    echo "== $name: swift test --skip-build (built in $built s; CPUs loaded by $load busy loops)"
    start_load
    env "${environment[@]}" swift test --skip-build "${flags[@]}" --scratch-path "$scratch" >"$test_log" 2>&1
    local status=$?
    stop_load
    local tested=$((SECONDS - start - built))
    local findings
    findings=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error: |SUMMARY: UndefinedBehaviorSanitizer' "$test_log")
    local tests
    tests=$(grep -oE 'Test run with [0-9]+ tests? in [0-9]+ suites? (passed|failed)' "$test_log" | tail -n 1)
    grep -E '✘|ERROR: |WARNING: ThreadSanitizer|runtime error: |SUMMARY: ' "$test_log" | head -n 60
    [ "$findings" -eq 0 ] && [ "$status" -eq 0 ] && grep -q 'Test run with .* passed' "$test_log" || status=1
    verdict "$name" "$status" $((SECONDS - start)) \
        "${tests:-no test summary}, $findings sanitizer reports, build $built s, tests $tested s under $load busy loops, log $test_log"
}

run_asan() {
    local scratch=.build-asan
    mkdir -p "$scratch"
    # LeakSanitizer suppressions: leaks of the toolchain's Foundation and
    # XCTest in the test runner; nothing of libshmemaphore.  (Foundation.Process
    # needed one until ShmemaphoreTools' ChildProcess, posix_spawn, replaced it
    # everywhere; no program or test uses it now.)  Patterns match the
    # (mangled) function names anywhere in the allocation stack.
    cat >"$scratch/lsan.supp" <<'EOF'
# FoundationEssentials readBytesFromFile: String(contentsOf:encoding:) leaks
# its 4096-byte read buffer (Tests/ShmemaphoreTests read child logs with it).
leak:FoundationEssentials17readBytesFromFile
# XCTest's own test-suite bookkeeping (XCTMain, XCTestSuiteRun), never freed.
leak:libXCTest.so
EOF
    swift_suite asan "$scratch" --sanitize=address -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined -- \
        ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1 \
        LSAN_OPTIONS="suppressions=$PWD/$scratch/lsan.supp:print_suppressions=0" \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        SWIFT_BACKTRACE=enable=no
}

run_tsan() {
    local scratch=.build-tsan
    mkdir -p "$scratch"
    swift_suite tsan "$scratch" --sanitize=thread -- \
        TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1 \
        SWIFT_BACKTRACE=enable=no
}

# ---- valgrind: the C programs of the CMake build -----------------------------

run_valgrind() {
    local start=$SECONDS
    local build=${SHMEMAPHORE_BUILD_DIR:-build}
    local bin="$build/bin" logs="$build/valgrind-logs"
    local prefix="vg$$"
    if ! command -v valgrind >/dev/null; then
        verdict valgrind 1 0 "valgrind is not installed"
        return
    fi
    mkdir -p "$logs"
    rm -f "$logs"/*
    echo "== valgrind: CMake build in $build (C examples, C test programs, the conformance runner for test images)"
    if [ ! -f "$build/CMakeCache.txt" ]; then
        quietly "$logs/cmake-configure.log" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ||
            { verdict valgrind 1 $((SECONDS - start)) "cmake configure failed"; return; }
    fi
    quietly "$logs/cmake-build.log" cmake --build "$build" -j "$jobs" --target \
        shmemaphore-example-server shmemaphore-example-client shmemaphore-c-peer \
        shmemaphore-c-api-check shmemaphore-conformance ||
        { verdict valgrind 1 $((SECONDS - start)) "cmake build failed, log $logs/cmake-build.log"; return; }
    local built=$((SECONDS - start))

    local work
    work=$(mktemp -d)
    cleanup+=("rm -rf '$work'; rm -f /dev/shm/SEG_${prefix}* /dev/shm/sem.SEM_${prefix}*")
    "$bin/shmemaphore-conformance" make-images "$work/img" >"$logs/make-images.log" 2>&1 ||
        { verdict valgrind 1 $((SECONDS - start)) "shmemaphore-conformance make-images failed"; return; }
    mkdir -p "$work/out"

    local runs=0 bad=0 possibly=0
    local pids=() names=()
    # vg NAME PROGRAM ARGS...: starts PROGRAM under memcheck in the background.
    vg() {
        local name=$1; shift
        timeout 600 valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            --suppressions=scripts/valgrind.supp --num-callers=40 --log-file="$logs/$name.valgrind" \
            "$@" >"$logs/$name.out" 2>&1 &
        pids+=($!)
        names+=("$name")
    }
    # settle: waits for every started program and judges its memcheck report.
    settle() {
        local index status report errors definite indirect possible problem
        for index in "${!pids[@]}"; do
            wait "${pids[$index]}"
            status=$?
            report="$logs/${names[$index]}.valgrind"
            errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$report" | tail -n 1)
            definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$report" | tail -n 1 | tr -d ,)
            indirect=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$report" | tail -n 1 | tr -d ,)
            possible=$(sed -n 's/.*possibly lost: \([0-9,]*\) bytes.*/\1/p' "$report" | tail -n 1 | tr -d ,)
            problem=
            case $status in
                0) ;;
                99) problem="memcheck errors" ;;
                124) problem="timed out" ;;
                *) problem="exit status $status" ;;
            esac
            [ "${errors:-1}" -eq 0 ] || problem="${problem:+$problem, }${errors:-no} memcheck errors"
            [ "${definite:-0}" -eq 0 ] && [ "${indirect:-0}" -eq 0 ] ||
                problem="${problem:+$problem, }leaks: ${definite:-0} B definite, ${indirect:-0} B indirect"
            runs=$((runs + 1))
            possibly=$((possibly + ${possible:-0}))
            if [ -n "$problem" ]; then
                bad=$((bad + 1))
                echo "   ${names[$index]}: FAIL ($problem)  report $report, output $logs/${names[$index]}.out"
                grep -vE '^==[0-9]+== *$' "$report" | sed -n '/Command:/,$p' | head -n 60
                tail -n 5 "$logs/${names[$index]}.out"
            else
                echo "   ${names[$index]}: clean (0 errors, 0 bytes definitely lost${possible:+, $possible B possibly lost})"
            fi
        done
        pids=()
        names=()
    }

    echo "== valgrind: C API check"
    vg c-api-check "$bin/shmemaphore-c-api-check" "${prefix}capi"
    settle

    echo "== valgrind: C examples, client + server (every image, errors, PNG output)"
    printf '%s\n' p ga odd vga hd uhd '' nosuch ../etc/passwd .hidden >"$work/requests"
    vg example-client "$bin/shmemaphore-example-client" --channel "${prefix}ex" --dir "$work/img" \
        --attach-timeout 120 --timeout 300
    vg example-server "$bin/shmemaphore-example-server" --channel "${prefix}ex" --requests "$work/requests" \
        --count 20 --out "$work/out" --timeout 300
    settle

    echo "== valgrind: C test peer, client + server (the ctest pairing steps)"
    vg c-peer-client "$bin/shmemaphore-c-peer" client "${prefix}peer"
    vg c-peer-server "$bin/shmemaphore-c-peer" server "${prefix}peer" \
        image:1:1:1:1 image:333:77:3:2 bytes:0:0 error:9 empty name:apple big:65536 image:64:64:2:3 \
        image:640:480:4:4 image:1920:1080:3:5 bytes:7:6 image:2:2:1:7 image:3840:2160:4:8 image:5:1:3:9 \
        bytes:1048577:10 error:0 image:1920:1080:3:11 name:dog
    settle

    local left
    left=$(ls /dev/shm | grep -E "^(sem\.SEM_|SEG_)${prefix}" || true)
    if [ -n "$left" ]; then
        echo "   left in /dev/shm (removed now):"; echo "$left" | sed 's/^/     /'
        bad=$((bad + 1))
    fi
    verdict valgrind "$([ "$bad" -eq 0 ] && echo 0 || echo 1)" $((SECONDS - start)) \
        "$runs programs under memcheck, $bad with findings, ${possibly} B possibly lost after suppressions, build $built s, logs $logs"
}

total_start=$SECONDS
case $mode in
    asan) run_asan ;;
    tsan) run_tsan ;;
    valgrind) run_valgrind ;;
    all) run_asan; run_tsan; run_valgrind ;;
esac

if [ "$mode" = all ]; then
    echo
    echo "sanitize summary ($((SECONDS - total_start)) s in all):"
    printf '  %s\n' "${summary[@]}"
fi
exit "$failed"
