#!/usr/bin/env bash
# The hostile-peer suite (docs/SECURITY.md): attacks by another process and,
# when run as root, by another Unix user, against programs that use
# libshmemaphore.  Each case asserts a clean code or a correct exchange, no
# death by a signal, no hang (every wait is bounded by `timeout`, far above
# what the case waits for), no wrong payload reported as OK, and /dev/shm
# left clean.
#
#   Tests/Hostile/hostile.sh BIN_DIR
#
# BIN_DIR holds shmemaphore (the tool), shmemaphore-hostile-peer and
# shmemaphore-hostile-victim (CMake builds them into <build>/bin).  Prints one
# "ok"/"not ok"/"skip" line per case, then "N passed, N failed".
set -uo pipefail

bin=${1:?usage: hostile.sh BIN_DIR}
tool=$bin/shmemaphore
hostile=$bin/shmemaphore-hostile-peer
victim=$bin/shmemaphore-hostile-victim
for program in "$tool" "$hostile" "$victim"; do
    [ -x "$program" ] || { echo "hostile.sh: $program is missing (build with CMake first)" >&2; exit 2; }
done

prefix="hostile$$"
passed=0
failed=0
work=$(mktemp -d)
other_user=""
cleanup() {
    rm -f /dev/shm/SEG_"$prefix"* /dev/shm/sem.SEM_"$prefix"* /dev/shm/SEG_hostile"$$"*
    [ -n "$other_user" ] && userdel "$other_user" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1: $2"; }
skip() { echo "skip - $1: $2"; }
# A wait status that is a death by a signal (timeout's own 124 is a hang).
died() { [ "$1" -ge 124 ]; }
leftovers() { ls /dev/shm | grep -F -- "_$1_" ; }
# Waits until a victim server printed "ready" into FILE (its channel is open).
await_ready() { # await_ready FILE
    for _ in $(seq 1 1500); do grep -q '^ready$' "$1" 2> /dev/null && return 0; sleep 0.02; done
    return 1
}
# The victim's summary: its last line.
summary() { tail -n 1 "$1"; }
# Runs a command whose death by a signal is expected to be counted, not
# announced by the shell ("Bus error ..." on stderr).
quietly() { { "$@"; } 2> /dev/null; }

# --- a. A second server on a live channel --------------------------------
case_second_server() {
    local ch="${prefix}a" name="a second server on a live channel is refused (C API and tool)"
    timeout 120 "$victim" client "$ch" 64 > "$work/a-client" &
    local client=$!
    VICTIM_DELAY_US=1000 timeout 120 "$victim" server "$ch" 3000 64 > "$work/a-server" &
    local server=$!
    await_ready "$work/a-server" || { fail "$name" "the first server did not start"; return; }
    local second tool_status
    second=$(timeout 60 "$victim" open-server "$ch")
    timeout 60 "$tool" server --channel "$ch" --names a --count 1 > "$work/a-tool" 2>&1
    tool_status=$?
    wait $server; local server_status=$?
    wait $client
    local result; result=$(summary "$work/a-server")
    if [ "$second" != "open: SHMEMAPHORE_E_BUSY" ]; then fail "$name" "second C server: $second"
    elif died $tool_status || [ $tool_status -eq 0 ] || ! grep -qi "busy\|taken\|live server" "$work/a-tool"; then
        fail "$name" "second tool server exited $tool_status: $(head -c 300 "$work/a-tool")"
    elif died $server_status || [ "$result" != "ok=3000 wrong=0 errors=0 last=none" ]; then
        fail "$name" "the first server: status $server_status, $result"
    elif [ -n "$(leftovers "$ch")" ]; then fail "$name" "left in /dev/shm: $(leftovers "$ch")"
    else pass "$name"; fi
}

# --- b. A third process posting REQ or RES --------------------------------
case_third_post() { # case_third_post REQ|RES
    local ch="${prefix}b$1" name="a third process posting $1 every 200 us: no wrong payload"
    # The poster first: it maps the semaphore as soon as it appears.
    timeout 300 "$hostile" post "/dev/shm/sem.SEM_${ch}_$1" 200 600000 > "$work/b-post" &
    local poster=$!
    timeout 300 "$victim" client "$ch" 64 > "$work/b-client" &
    local client=$!
    VICTIM_DELAY_US=200 timeout 300 "$victim" server "$ch" 2000 64 > "$work/b-server" &
    local server=$!
    wait $server; local server_status=$?
    kill $poster 2>/dev/null; wait $poster 2>/dev/null
    wait $client
    local result; result=$(summary "$work/b-server")
    if died $server_status; then fail "$name" "the server died or hung (status $server_status)"
    elif [[ "$result" != "ok=2000 wrong=0 "* ]]; then fail "$name" "$result"
    elif [ -n "$(leftovers "$ch")" ]; then fail "$name" "left in /dev/shm: $(leftovers "$ch")"
    else pass "$name"; fi
}

# --- d. A semaphore that is a 0-byte regular file --------------------------
case_zero_semaphore() {
    local ch="${prefix}d" name="a 0-byte semaphore file is refused by server and client (C API and tool)"
    local planted="/dev/shm/sem.SEM_${ch}_REQ"
    "$hostile" zero-file "$planted" || { fail "$name" "could not plant the file"; return; }
    local as_server as_client tool_status
    as_server=$(timeout 60 "$victim" open-server "$ch")
    as_client=$(timeout 60 "$victim" open-client "$ch")
    timeout 60 "$tool" server --channel "$ch" --names a --count 1 > "$work/d-tool" 2>&1
    tool_status=$?
    local left; left=$(leftovers "$ch")
    rm -f "$planted"
    if [ "$as_server" != "open: SHMEMAPHORE_E_PROTOCOL" ] || [ "$as_client" != "open: SHMEMAPHORE_E_PROTOCOL" ]; then
        fail "$name" "server: $as_server; client: $as_client"
    elif died $tool_status || [ $tool_status -eq 0 ]; then fail "$name" "tool exited $tool_status: $(head -c 300 "$work/d-tool")"
    elif [ "$left" != "sem.SEM_${ch}_REQ" ]; then fail "$name" "in /dev/shm afterwards: $left"
    else pass "$name"; fi
}

# --- e. ls and rm while the owner truncates a semaphore file ----------------
case_inspection_truncation() {
    local ch="${prefix}e" name="ls (200 runs) and rm (300 runs) survive a semaphore file truncated in a loop"
    local file="/dev/shm/sem.SEM_${ch}_REQ" deaths=0 status
    truncate -s 4096 "$file"
    timeout 600 "$hostile" truncate-loop "$file" 600000 > /dev/null &
    local looper=$!
    for _ in $(seq 1 200); do
        quietly timeout 60 "$tool" ls > /dev/null 2>&1; status=$?
        died $status && deaths=$((deaths + 1))
    done
    for _ in $(seq 1 300); do
        truncate -s 4096 "$file"
        quietly timeout 60 "$tool" rm "$ch" > /dev/null 2>&1; status=$?
        died $status && deaths=$((deaths + 1))
    done
    kill $looper 2>/dev/null; wait $looper 2>/dev/null
    rm -f "$file"
    if [ $deaths -gt 0 ]; then fail "$name" "$deaths runs died of a signal or hung"; else pass "$name"; fi
}

# --- f. DATA truncated during the victim's turn ----------------------------
case_truncated_turn() { # case_truncated_turn [untrusted]
    local ch="${prefix}f${1:-}" name="DATA truncated in a loop, also during the server's turn${1:+ ($1)}: no SIGBUS"
    timeout 300 "$victim" server "$ch" 3000 0 ${1:+"$1"} > "$work/f-server" 2> "$work/f-server-errors" &
    local server=$!
    await_ready "$work/f-server" || { fail "$name" "the server did not start"; return; }
    timeout 300 "$hostile" truncating-client "$ch" 20000 > "$work/f-client" &
    local client=$!
    wait $server; local server_status=$?
    kill $client 2>/dev/null; wait $client 2>/dev/null
    local result; result=$(summary "$work/f-server")
    if died $server_status; then fail "$name" "the server died or hung (status $server_status)"
    elif [[ "$result" != *" wrong=0 "* ]]; then fail "$name" "$result"
    elif [ -n "$(leftovers "$ch")" ]; then fail "$name" "left in /dev/shm: $(leftovers "$ch")"
    else pass "$name ($result)"; fi
}

# --- h. DATA larger than the address space --------------------------------
case_huge_data() {
    local ch="${prefix}h" name="DATA larger than the address space: the client still answers (with an error)"
    timeout 120 "$victim" client "$ch" 64 > "$work/h-client" &
    local client=$!
    local answer status
    answer=$(timeout 60 "$hostile" huge-data-server "$ch" 30000); status=$?
    wait $client; local client_status=$?
    if died $client_status; then fail "$name" "the client died or hung (status $client_status)"
    elif [ $status -ne 0 ] || [[ "$answer" != *"channels error"* ]]; then fail "$name" "server saw: $answer"
    elif [ -n "$(leftovers "$ch")" ]; then fail "$name" "left in /dev/shm: $(leftovers "$ch")"
    else pass "$name"; fi
}

# --- c. Another user's symlink exchange race -------------------------------
case_symlink_swap() {
    local name="another user's symlink-exchange race never passes her semaphore for ours"
    if [ "$(id -u)" -ne 0 ] || ! command -v useradd > /dev/null || ! command -v setpriv > /dev/null; then
        skip "$name" "needs root, useradd and setpriv (a second Unix user)"; return
    fi
    other_user="shmhostile$$"
    useradd -M -N -s /usr/sbin/nologin "$other_user" 2> "$work/c-useradd" || { skip "$name" "useradd: $(cat "$work/c-useradd")"; other_user=""; return; }
    local uid; uid=$(id -u "$other_user")
    local ch="${prefix}c" target="/dev/shm/sem.SEM_${prefix}ctarget_REQ"
    head -c 64 /dev/zero > "$target"   # a semaphore file of the victim's own (value 0)
    timeout 600 setpriv --reuid="$uid" --regid="$uid" --clear-groups \
        "$hostile" swap "/dev/shm/sem.SEM_${ch}_REQ" "$target" 600000 > "$work/c-swap" 2>&1 &
    local swapper=$!
    sleep 0.2
    local accepted=0 deaths=0 tries=0 result status
    for _ in $(seq 1 300); do
        result=$(quietly timeout 60 "$victim" open-server "$ch"); status=$?
        tries=$((tries + 1))
        died $status && deaths=$((deaths + 1))
        [ "$result" = "open: SHMEMAPHORE_OK" ] && accepted=$((accepted + 1))
    done
    kill $swapper 2>/dev/null; wait $swapper 2>/dev/null
    rm -f "$target" /dev/shm/sem.SEM_"${ch}"_* /dev/shm/SEG_"${ch}"_*
    if [ $deaths -gt 0 ] || [ $accepted -gt 0 ]; then
        fail "$name" "$accepted of $tries opens accepted her semaphore, $deaths died ($(cat "$work/c-swap"))"
    else pass "$name ($tries opens refused)"; fi
}

# --- i. Names with terminal escape sequences --------------------------------
case_escaped_names() {
    local name="shmemaphore ls prints names with escape sequences escaped"
    "$hostile" names "/dev/shm/SEG_hostile$$" 4 > /dev/null 2>&1
    timeout 60 "$tool" ls > "$work/i-ls" 2>&1
    local status=$?
    rm -f /dev/shm/SEG_hostile"$$"*
    if died $status; then fail "$name" "ls died (status $status)"
    elif LC_ALL=C grep -q $'\x1b' "$work/i-ls"; then fail "$name" "an ESC byte reached the output"
    elif ! grep -q 'x1b' "$work/i-ls"; then fail "$name" "the names are not listed (escaped): $(head -c 300 "$work/i-ls")"
    else pass "$name"; fi
}

case_second_server
case_third_post REQ
case_third_post RES
case_zero_semaphore
case_inspection_truncation
case_truncated_turn
case_truncated_turn untrusted
case_huge_data
case_symlink_swap
case_escaped_names

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
