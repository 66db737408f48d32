#!/usr/bin/env bash
# Soak test: many exchanges of random sizes between a C and a Swift process,
# every payload checked byte by byte, resources compared before and after.
#
#   scripts/soak.sh [EXCHANGES] [SEED]     # default 100000 exchanges, seed 1
#
# EXCHANGES are split over two pairings, each a single long-lived pair of
# processes on its own channel:
#   c-server/swift-client   Tests/Soak/soak_server.c (C, only <shmemaphore.h>)
#                           with `shmemaphore-testpeer client` (Swift API)
#   swift-server/c-client   Tests/Soak/SoakServer.swift (Swift API, SwiftPM target shmemaphore-soak-peer)
#                           with `shmemaphore-c-peer client` (Tests/CPeer/c_peer.c, C API)
# The clients answer bytes through the copy path and images through the
# zero-copy path (Tests/CPeer/PEER-SPEC.md).  The steps come from
# `soak_server steps N SEED`: payload sizes log-uniform from 1 B to
# 33,177,600 B (a 3840x2160 RGBA frame), 72 % bytes, 25 % images, 3 % error
# responses; 100,000 steps move about 190 GB (1.9 MB per exchange on average).
#
# Each server checks kind, metadata and every payload byte, and samples its
# own and its client's open descriptors (/proc/PID/fd), /dev/shm mappings
# (/proc/PID/maps) and anonymous memory (RssAnon in /proc/PID/status) after
# the first exchange, every 10 % and after the last.
# A pairing passes when both processes exit 0, every exchange checked out,
# the counts after the last exchange equal those after the first (and no
# sample exceeded them), anonymous memory (RssAnon) grew by at most 64 MiB
# after the first 10 %, the server's counts after close equal those before
# open, the channel's four objects existed during the run and none is left.
#
# Builds: the CMake build (SHMEMAPHORE_BUILD_DIR, default build/; configured
# Release if new) for libshmemaphore.so, the two peers and the C soak server
# (target shmemaphore-soak-server); the Swift one,
# the SwiftPM target shmemaphore-soak-peer (Package.swift), with
# `swift build -c release --scratch-path .build-soak`.
# Logs and step files stay in .build-soak/.
#
# Prints one verdict line "soak: PASS|FAIL ..."; exit status 0 pass, 1 fail, 2 usage.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2; }
[ $# -le 2 ] || usage
exchanges=${1:-100000}
seed=${2:-1}
[[ "$exchanges" =~ ^[0-9]+$ ]] && [ "$exchanges" -ge 2 ] && [[ "$seed" =~ ^[0-9]+$ ]] || usage

build=${SHMEMAPHORE_BUILD_DIR:-build}
work=.build-soak
prefix="soak$$"
jobs=$(nproc 2>/dev/null || echo 2)
anon_limit_kb=65536
mkdir -p "$work"

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    rm -f /dev/shm/SEG_"$prefix"-* /dev/shm/sem.SEM_"$prefix"-*
}
trap cleanup EXIT
trap 'exit 1' INT TERM

quietly() { # quietly LOG COMMAND...
    local log=$1; shift
    "$@" >"$log" 2>&1 || { tail -n 40 "$log"; return 1; }
}
fail() { echo "soak: FAIL ($*)"; exit 1; }

# ---- build ------------------------------------------------------------------
start=$SECONDS
if [ ! -f "$build/CMakeCache.txt" ]; then
    quietly "$work/cmake-configure.log" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ||
        fail "cmake configure"
fi
quietly "$work/cmake-build.log" cmake --build "$build" -j "$jobs" \
    --target shmemaphore-testpeer shmemaphore-c-peer shmemaphore-soak-server ||
    fail "cmake build, log $work/cmake-build.log"
bin="$build/bin"
c_server="$bin/shmemaphore-soak-server"
swift_build=(swift build -c release --product shmemaphore-soak-peer --scratch-path "$work")
quietly "$work/swift-build.log" "${swift_build[@]}" || fail "swift build of shmemaphore-soak-peer, log $work/swift-build.log"
swift_server="$("${swift_build[@]}" --show-bin-path | tail -n 1)/shmemaphore-soak-peer"
[ -x "$swift_server" ] || fail "swift build made no $swift_server"
echo "soak: built in $((SECONDS - start)) s ($build, $work)"

first=$((exchanges / 2))
second=$((exchanges - first))
"$c_server" steps "$first" "$seed" >"$work/steps-c-server.txt" || fail "writing steps"
"$c_server" steps "$second" "$((seed + 1))" >"$work/steps-swift-server.txt" || fail "writing steps"

# ---- pairings ---------------------------------------------------------------
objects_of() { ls /dev/shm | grep -cE "^(sem\.SEM_|SEG_)$1_(REQ|RES|HEAD|DATA)\$"; }
value() { # value LOG KEY...: the number after "KEY=" on the line "soak: ...KEY-PREFIX..."
    local log=$1 line=$2 key=$3
    grep -F "soak: $line " "$log" | tail -n 1 | sed -n "s/.* $key=\([0-9.-]*\).*/\1/p"
}

total_exchanges=0
total_bytes=0
total_seconds=0
verdicts=()
failed=0

# pairing NAME ID STEPS SERVER CLIENT...
pairing() {
    local name=$1 id=$2 steps=$3 server=$4; shift 4
    local channel="$prefix-$id" log="$work/$id.server.log" client_log="$work/$id.client.log"
    local expected problems=() started=$SECONDS
    expected=$(wc -l <"$steps")
    echo "== $name: $expected exchanges on channel $channel"
    local before_objects
    before_objects=$(objects_of "$channel")
    "$@" client "$channel" >"$client_log" 2>&1 &
    local client=$!
    pids+=("$client")
    timeout 7200 "$server" server "$channel" "$steps" "$client" >"$log" 2>&1
    local server_status=$?
    wait "$client"
    local client_status=$?
    pids=()
    local after_objects
    after_objects=$(objects_of "$channel")
    grep -E 'soak: (progress|done)' "$log" | sed 's/^/   /'

    [ "$server_status" -eq 0 ] || problems+=("server exited $server_status")
    [ "$client_status" -eq 0 ] || problems+=("client exited $client_status")
    local done bytes seconds
    done=$(value "$log" done exchanges)
    bytes=$(value "$log" done payload_bytes)
    seconds=$(value "$log" done seconds)
    [ "${done:-0}" = "$expected" ] || problems+=("${done:-0} of $expected exchanges done")
    local who what start end max
    for who in self peer; do
        for what in fds shm_maps; do
            start=$(value "$log" "counts $who start" "$what")
            end=$(value "$log" "counts $who end" "$what")
            max=$(value "$log" "counts $who max" "$what")
            if [ -z "$start" ] || [ "$start" = -1 ] || [ "$start" != "$end" ] || [ "$max" != "$start" ]; then
                problems+=("$who $what: start ${start:-?}, end ${end:-?}, max ${max:-?}")
            fi
        done
    done
    # Anonymous memory (heap): after the first 10 % malloc has seen most
    # sizes; growth beyond that by more than anon_limit_kb is a leak
    # (64 MiB over 90 % of 50,000 exchanges: about 1.5 KB per exchange).
    local warm
    for who in self peer; do
        warm=$(value "$log" "counts $who warm" anon_kb)
        end=$(value "$log" "counts $who end" anon_kb)
        max=$(value "$log" "counts $who max" anon_kb)
        if [ -z "$warm" ] || [ "$warm" = -1 ] || [ $((end - warm)) -gt "$anon_limit_kb" ] ||
            [ $((max - warm)) -gt "$anon_limit_kb" ]; then
            problems+=("$who anonymous memory: ${warm:-?} kB after 10 %, ${end:-?} kB at the end, max ${max:-?} kB")
        fi
    done
    for what in fds shm_maps; do
        start=$(value "$log" "counts self before-open" "$what")
        end=$(value "$log" "counts self after-close" "$what")
        [ -n "$start" ] && [ "$start" = "$end" ] || problems+=("server $what before open ${start:-?}, after close ${end:-?}")
    done
    local during
    during=$(value "$log" objects during)
    [ "${during:-0}" = 4 ] || problems+=("${during:-0} channel objects in /dev/shm during the run, expected 4")
    [ "$before_objects" = 0 ] && [ "$after_objects" = 0 ] ||
        problems+=("channel objects in /dev/shm: $before_objects before, $after_objects after")

    local counts
    counts="server fds $(value "$log" "counts self start" fds)->$(value "$log" "counts self end" fds)"
    counts+=" maps $(value "$log" "counts self start" shm_maps)->$(value "$log" "counts self end" shm_maps)"
    counts+=", client fds $(value "$log" "counts peer start" fds)->$(value "$log" "counts peer end" fds)"
    counts+=" maps $(value "$log" "counts peer start" shm_maps)->$(value "$log" "counts peer end" shm_maps)"
    counts+=", anon kB server $(value "$log" "counts self warm" anon_kb)->$(value "$log" "counts self end" anon_kb)"
    counts+=" client $(value "$log" "counts peer warm" anon_kb)->$(value "$log" "counts peer end" anon_kb)"
    counts+=", server fds/maps before open $(value "$log" "counts self before-open" fds)/$(value "$log" "counts self before-open" shm_maps)"
    counts+=" after close $(value "$log" "counts self after-close" fds)/$(value "$log" "counts self after-close" shm_maps)"
    counts+=", /dev/shm objects $before_objects -> ${during:-?} -> $after_objects"
    local gigabytes
    gigabytes=$(awk -v b="${bytes:-0}" 'BEGIN { printf "%.1f", b / 1e9 }')
    if [ ${#problems[@]} -eq 0 ]; then
        verdicts+=("$(printf '%-22s PASS %7s exchanges %7s GB %6s s  %s' "$name" "$done" "$gigabytes" "$seconds" "$counts")")
    else
        failed=1
        verdicts+=("$(printf '%-22s FAIL %s' "$name" "$(IFS=';'; echo "${problems[*]}")")")
        echo "--- $log (last lines):"; tail -n 15 "$log"
        echo "--- $client_log (last lines):"; tail -n 5 "$client_log"
    fi
    total_exchanges=$((total_exchanges + ${done:-0}))
    total_bytes=$((total_bytes + ${bytes:-0}))
    total_seconds=$(awk -v a="$total_seconds" -v b="${seconds:-0}" 'BEGIN { print a + b }')
    echo "   $name: $((SECONDS - started)) s wall"
}

pairing c-server/swift-client c-swift "$work/steps-c-server.txt" "$c_server" "$bin/shmemaphore-testpeer"
pairing swift-server/c-client swift-c "$work/steps-swift-server.txt" "$swift_server" "$bin/shmemaphore-c-peer"

echo
printf '  %s\n' "${verdicts[@]}"
summary=$(awk -v e="$total_exchanges" -v b="$total_bytes" -v s="$total_seconds" \
    'BEGIN { printf "%d exchanges, %.1f GB of payload (%.0f bytes) in %.0f s, %.2f GB/s", e, b / 1e9, b, s, (s > 0 ? b / 1e9 / s : 0) }')
if [ "$failed" -eq 0 ]; then
    echo "soak: PASS ($summary; seed $seed; $((SECONDS - start)) s in all)"
else
    echo "soak: FAIL ($summary; seed $seed; logs in $work)"
fi
exit "$failed"
