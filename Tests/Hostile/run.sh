#!/usr/bin/env bash
# The hostile-peer suite (issue 9, docs/SECURITY.md): other processes, and
# (as root) another Unix user, break the protocol on purpose against programs
# that use libshmemaphore: the C API (capi_victim.c) and the `shmemaphore`
# tool.  The attackers are hostile.c (plain POSIX, no libshmemaphore).
#
#   Tests/Hostile/run.sh BUILD_DIR [CASE...]      CASE: a..j (default: all)
#   Tests/Hostile/run.sh --list
#
# BUILD_DIR is a CMake build tree of this project (<build>/bin/shmemaphore,
# <build>/lib/libshmemaphore.so).  The two C programs are taken from
# <build>/bin (shmemaphore-hostile, shmemaphore-hostile-capi-victim) when the
# build has them, or else compiled here against the build's library and its
# source tree's header (so an older build tree can be checked too).
#
# Each check asserts: a clean status (not killed by a signal: a wait status
# of 128+N; not hung: every process runs under `timeout`, with a bound
# derived from its own timeout, see WAIT_BOUND/LOOP_BOUND), a clean code or
# message, no wrong payload reported as OK, earlier exchanges intact, and no
# object of the check left in /dev/shm (objects are removed by a trap even
# when a check fails).  Checks the environment cannot run print "SKIP".
# Output: "ok - ...", "not ok - ..." (with the evidence), "SKIP - ..." lines,
# then "hostile: N passed, N failed, N skipped".
# Exit status: 0 all passed, 1 a check failed, 77 everything was skipped
# (ctest SKIP_RETURN_CODE), 2 usage.  HOSTILE_KEEP=1 keeps the outputs.
# The whole script is one function, read before it runs: editing this file
# while a run is going on cannot change what that run executes.
main() {
set -uo pipefail

cases_all="a b c d e f g h i j"
describe_case() {
    case $1 in
    a) echo "a second server on a live channel is refused (E_BUSY), the first one keeps working" ;;
    b) echo "a third process posting REQ/RES every 200 us during 10,000 exchanges never makes a pair accept a wrong payload" ;;
    c) echo "another user's symlink-exchange race: no forged answer accepted, no SIGBUS" ;;
    d) echo "REQ or RES as a 0-byte file: a clean error, no SIGBUS, nothing left behind" ;;
    e) echo "ls and rm while the owner truncates a semaphore file in a loop: none dies" ;;
    f) echo "DATA truncated during the victim's turn: a clean error, no SIGBUS" ;;
    g) echo "a DATA hole hidden by FALLOC_FL_KEEP_SIZE on a full /dev/shm: ENOSPC, no SIGBUS" ;;
    h) echo "DATA larger than the address space: every request still gets an answer" ;;
    i) echo "ls of channel names holding terminal escapes prints no raw control bytes" ;;
    j) echo "inconsistent headers: refused as protocol errors, malformed requests answered with code 2" ;;
    esac
}

if [ "${1:-}" = "--list" ]; then
    for c in $cases_all; do echo "$c  $(describe_case "$c")"; done
    exit 0
fi
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [CASE...] | --list" >&2; exit 2; }
build=$(cd "$1" 2> /dev/null && pwd) || { echo "run.sh: no build folder $1" >&2; exit 2; }
shift
selected=${*:-$cases_all}
for c in $selected; do
    case " $cases_all " in *" $c "*) ;; *) echo "run.sh: unknown case $c" >&2; exit 2 ;; esac
done

here=$(cd "$(dirname "$0")" && pwd)
tool=$build/bin/shmemaphore
[ -x "$tool" ] || { echo "run.sh: $tool is missing (build the project first)" >&2; exit 2; }
ulimit -c 0 2> /dev/null   # a victim that dies must not leave core files

# --- bounds (seconds) --------------------------------------------------------
# Every victim waits at most VT for its peer (its own --timeout-ms / the
# tool's --timeout) and stops at the first timeout.  A process that makes one
# bounded wait gets VT + 30 s before it is called hung; one that runs a loop
# of exchanges, each wait bounded by VT, a minute more for its healthy work.
VT=30
VT_MS=$((VT * 1000))
WAIT_BOUND=$((VT + 30))
LOOP_BOUND=$((VT + 30 + 60))

work=$(mktemp -d /tmp/shm-hostile.XXXXXX)
chmod 755 "$work"              # the second user runs $work/bin/hostile
prefix="hpx$$"                 # every object of this run has it in its name
other_user=""
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2> /dev/null; done
    find /dev/shm -maxdepth 1 -name "*${prefix}*" -exec rm -f {} + 2> /dev/null
    [ -n "$other_user" ] && userdel "$other_user" 2> /dev/null
    if [ "${HOSTILE_KEEP:-0}" = 1 ]; then echo "# outputs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the programs ------------------------------------------------------------
mkdir -p "$work/bin" "$work/img"
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2> /dev/null)
[ -n "$source_dir" ] || source_dir=$(cd "$here/../.." && pwd)
cc=${CC:-cc}
if [ -x "$build/bin/shmemaphore-hostile" ]; then
    cp "$build/bin/shmemaphore-hostile" "$work/bin/hostile"
else
    "$cc" -std=c11 -O2 -Wall -Wextra -pedantic "$here/hostile.c" -o "$work/bin/hostile" -lpthread ||
        { echo "run.sh: cannot compile hostile.c" >&2; exit 2; }
fi
if [ -x "$build/bin/shmemaphore-hostile-capi-victim" ]; then
    victim=$build/bin/shmemaphore-hostile-capi-victim
else
    victim=$work/bin/victim
    "$cc" -std=c11 -O2 -Wall -Wextra -pedantic -I"$source_dir/include" "$here/capi_victim.c" \
        -L"$build/lib" -lshmemaphore -Wl,-rpath,"$build/lib" -o "$victim" ||
        { echo "run.sh: cannot compile capi_victim.c against $build/lib" >&2; exit 2; }
fi
chmod 755 "$work/bin/hostile"
hostile=$work/bin/hostile
"$hostile" mkimages "$work/img" || { echo "run.sh: mkimages failed" >&2; exit 2; }
if "$tool" server --help 2>&1 | grep -q -- '--untrusted-peer'; then tool_untrusted=--untrusted-peer
else tool_untrusted=--check-every-turn; fi
echo "# build $build (sources $source_dir)"
echo "# victim $victim, hostile $hostile, tool untrusted flag $tool_untrusted"

# --- results -----------------------------------------------------------------
passed=0 failed=0 skipped=0
check_name="" check_problems=() check_evidence=()
begin() { check_name=$1; check_problems=(); check_evidence=(); echo "# $check_name"; }
problem() { check_problems+=("$1"); }
evidence() { check_evidence+=("$@"); }          # files shown when the check fails
end() {
    local f
    for f in "${check_evidence[@]}"; do   # the victims' and liars' verdicts, for the log
        grep -a -h -E '^(summary|server ok|client served|lines ok|open=)' "$f" 2> /dev/null | tail -n 1 | sed 's/^/#   /'
    done
    if [ ${#check_problems[@]} -eq 0 ]; then
        passed=$((passed + 1)); echo "ok - $check_name"
    else
        failed=$((failed + 1)); echo "not ok - $check_name"
        for p in "${check_problems[@]}"; do echo "    - $p"; done
        for f in "${check_evidence[@]}"; do
            [ -s "$f" ] || continue
            echo "    --- ${f#"$work"/} (last lines)"
            tail -n 8 "$f" | cut -c1-300 | LC_ALL=C tr -d '\000-\010\013-\037\177' | sed 's/^/    | /'
        done
    fi
}
skip() { skipped=$((skipped + 1)); echo "SKIP - $1: $2"; }

# --- processes ---------------------------------------------------------------
# spawn VAR BOUND OUT CMD...: CMD in the background under `timeout BOUND`,
# stdout/stderr to OUT.out/OUT.err; its PID in VAR.
spawn() {
    local var=$1 bound=$2 out=$3
    shift 3
    timeout -k 5 "$bound" "$@" > "$out.out" 2> "$out.err" &
    printf -v "$var" %s $!
    pids+=($!)
}
# reap PID: waits, sets $status to its wait status, forgets the PID (so the
# cleanup never signals a number the system may have given to another process).
reap() {
    wait "$1"; status=$?
    local p kept=()
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    pids=("${kept[@]}")
}
# stop PID: a peer whose victim is done cannot get any further: SIGTERM.
stop() { kill -TERM "$1" 2> /dev/null; reap "$1"; }
# run BOUND OUT CMD...: in the foreground; $status.
run() {
    local bound=$1 out=$2
    shift 2
    timeout -k 5 "$bound" "$@" > "$out.out" 2> "$out.err"
    status=$?
}
# How a wait status reads; clean = exited by itself (not hung, not killed).
how() {
    local s=$1
    if [ "$s" -eq 124 ] || [ "$s" -eq 137 ]; then echo "HUNG (killed by timeout)"
    elif [ "$s" -gt 128 ]; then echo "KILLED by SIG$(kill -l $((s - 128)) 2> /dev/null)"
    else echo "exit $s"; fi
}
clean() { [ "$1" -lt 124 ]; }
expect_clean() { # expect_clean STATUS WHAT
    clean "$1" || problem "$2: $(how "$1")"
}
expect_status() { # expect_status STATUS WANTED... WHAT
    local s=$1 what=${*: -1} w
    for w in "${@:2:$#-2}"; do [ "$s" -eq "$w" ] && return 0; done
    problem "$what: $(how "$s"), expected exit ${*:2:$#-2}"
}
# value FILE KEY [LINE-PATTERN]: KEY=value from the last line matching the pattern.
value() {
    grep -a -- "${3:-=}" "$1" 2> /dev/null | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
expect_value() { # expect_value FILE KEY WANTED WHAT [LINE-PATTERN]
    local v
    v=$(value "$1" "$2" "${5:-=}")
    [ "$v" = "$3" ] || problem "$4: $2=${v:-<missing>}, expected $3"
}
expect_present() { # expect_present FILE PATTERN WHAT
    grep -a -q -- "$2" "$1" 2> /dev/null || problem "$3: no '$2' line"
}
# expect_errors FILE ALLOWED...: the summary's error codes are all allowed.
expect_errors() {
    local file=$1 errs e name
    shift
    errs=$(value "$file" errors summary)
    [ -n "$errs" ] || { problem "no summary line in ${file#"$work"/}"; return; }
    [ "$errs" = none ] && return 0
    IFS=, read -r -a e <<< "$errs"
    for name in "${e[@]}"; do
        name=${name%%:*}
        case " $* " in *" $name "*) ;; *) problem "unexpected error $name in ${file#"$work"/} (errors=$errs)" ;; esac
    done
}
# The objects of channel S in /dev/shm (anything whose name has "_S_" or "S-").
objects_of() { ls -A /dev/shm 2> /dev/null | grep -a -F -e "_$1_" -e "$1-" ; }
expect_clean_shm() { # expect_clean_shm CHANNEL
    local left
    left=$(objects_of "$1")
    if [ -n "$left" ]; then
        problem "left in /dev/shm: $(echo "$left" | tr '\n' ' ')"
        (cd /dev/shm && echo "$left" | while IFS= read -r f; do rm -f -- "$f"; done)
    fi
}
remove_objects() { (cd /dev/shm && objects_of "$1" | while IFS= read -r f; do rm -f -- "$f"; done); }
# await FILE PATTERN BOUND: until FILE has a line matching PATTERN.
await() {
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt "$end" ]; do
        grep -a -q -- "$2" "$1" 2> /dev/null && return 0
        sleep 0.01
    done
    return 1
}
await_file() { # await_file PATH BOUND
    local end=$((SECONDS + $2))
    while [ $SECONDS -lt "$end" ]; do [ -e "$1" ] && return 0; sleep 0.01; done
    return 1
}
inodes() { local p; for p in "$@"; do stat -c '%d:%i' "$p" 2> /dev/null || echo missing; done | tr '\n' ' '; }
paths_of() { echo "/dev/shm/SEG_$1_HEAD /dev/shm/SEG_$1_DATA /dev/shm/sem.SEM_$1_REQ /dev/shm/sem.SEM_$1_RES"; }

# The request lines of the tool server: images and raw bytes, by the payload
# convention (hostile.c).
requests_file() { # requests_file FILE COUNT
    local i
    for ((i = 1; i <= $2; i++)); do
        if ((i % 2)); then echo "k$i"; else echo "k$i:$((1 + (i * 2654435761) % 16384))"; fi
    done > "$1"
}

# The second Unix user (root only).
ensure_other_user() {
    [ -n "$other_user" ] && return 0
    [ "$(id -u)" -eq 0 ] || { why_not="needs root to create a second Unix user"; return 1; }
    command -v useradd > /dev/null && command -v setpriv > /dev/null || { why_not="needs useradd and setpriv"; return 1; }
    local name="shmhx$$"
    useradd -M -N -s /usr/sbin/nologin "$name" 2> "$work/useradd.err" || { why_not="useradd: $(cat "$work/useradd.err")"; return 1; }
    other_user=$name
    other_uid=$(id -u "$name")
    other_gid=$(id -g "$name")
    setpriv --reuid="$other_uid" --regid="$other_gid" --clear-groups -- "$hostile" 2> /dev/null
    [ $? -eq 2 ] || { why_not="cannot run $hostile as $name"; return 1; }
}

# A private mount namespace whose /dev/shm is a 2 MB tmpfs (root, unshare).
ns_works=""
ensure_namespace() {
    if [ -z "$ns_works" ]; then
        ns_works=no
        [ "$(id -u)" -eq 0 ] && command -v unshare > /dev/null &&
            timeout 30 unshare --mount --pid --fork --kill-child --propagation private \
                sh -c 'mount -t tmpfs -o size=2m tmpfs /dev/shm && test -z "$(ls -A /dev/shm)"' 2> /dev/null &&
            ns_works=yes
    fi
    [ "$ns_works" = yes ]
}
# in_namespace BOUND OUT SCRIPT ARGS...: SCRIPT (bash) as PID 1 of a private
# namespace with a 2 MB /dev/shm; what it leaves there is printed to OUT.left.
in_namespace() {
    local bound=$1 out=$2 script=$3
    shift 3
    timeout -k 5 "$bound" unshare --mount --pid --fork --kill-child --propagation private \
        bash -c 'mount -t tmpfs -o size=2m tmpfs /dev/shm || exit 90; out=$1; shift
                 bash -c "$0" script "$@"; s=$?; ls -A /dev/shm > "$out.left"; exit $s' "$script" "$out" "$@" \
        > "$out.out" 2> "$out.err"
    status=$?
}

# =============================================================================
# a. A second server on a live channel
# =============================================================================
intruders() { # intruders CH TAG: the three intruding servers; checks the refusals
    local ch=$1 tag=$2 policy
    for policy in reset fail; do
        run "$WAIT_BOUND" "$work/$tag-second-$policy" "$victim" open-server "$ch" --stale "$policy"
        expect_status "$status" 3 "the second C server (--stale $policy)"
        expect_value "$work/$tag-second-$policy.out" open SHMEMAPHORE_E_BUSY "the second C server (--stale $policy)"
        evidence "$work/$tag-second-$policy.out" "$work/$tag-second-$policy.err"
    done
    run "$WAIT_BOUND" "$work/$tag-second-tool" "$tool" server --channel "$ch" --count 1 --timeout "$VT"
    expect_status "$status" 3 "the second server (tool)"
    [ -s "$work/$tag-second-tool.err" ] || problem "the second server (tool) printed no message"
    ! grep -a -q -E 'Fatal error|Stack dump|Backtrace' "$work/$tag-second-tool.err" ||
        problem "the second server (tool) crashed: $(head -n 1 "$work/$tag-second-tool.err")"
    evidence "$work/$tag-second-tool.err"
}

case_a() {
    local ch before after cpid spid

    begin "a1: C server with a C client; second servers (C, both stale policies; tool) refused"
    ch=${prefix}a1
    spawn cpid "$LOOP_BOUND" "$work/a1-client" "$victim" client "$ch" --timeout-ms "$VT_MS"
    spawn spid "$LOOP_BOUND" "$work/a1-server" "$victim" server "$ch" --count 400 --hold-at 200 \
        --hold-file "$work/a1" --timeout-ms "$VT_MS"
    evidence "$work/a1-server.out" "$work/a1-server.err" "$work/a1-client.out" "$work/a1-client.err"
    if await_file "$work/a1.half" "$LOOP_BOUND"; then
        before=$(inodes $(paths_of "$ch"))
        intruders "$ch" a1
        after=$(inodes $(paths_of "$ch"))
        [ "$before" = "$after" ] || problem "the first server's objects changed: before $before, after $after"
        case $after in *missing*) problem "an object of the first server is gone: $after" ;; esac
    else
        problem "the first server never reached exchange 200"
    fi
    touch "$work/a1.go"
    reap "$spid"; expect_status "$status" 0 "the first server"
    reap "$cpid"; expect_status "$status" 0 "its client"
    expect_value "$work/a1-server.out" ok 400 "the first server" summary
    expect_value "$work/a1-server.out" wrong 0 "the first server" summary
    expect_clean_shm "$ch"
    end

    begin "a2: tool server with a C client; second servers (C, both stale policies; tool) refused"
    ch=${prefix}a2
    requests_file "$work/a2.req" 400
    spawn cpid "$LOOP_BOUND" "$work/a2-client" "$victim" client "$ch" --timeout-ms "$VT_MS" --hold-at 200 --hold-file "$work/a2"
    spawn spid "$LOOP_BOUND" "$work/a2-server" "$tool" server --channel "$ch" --requests "$work/a2.req" --count 400 --timeout "$VT"
    evidence "$work/a2-server.err" "$work/a2-client.out" "$work/a2-client.err" "$work/a2-lines.out" "$work/a2-lines.err"
    if await_file "$work/a2.half" "$LOOP_BOUND"; then
        before=$(inodes $(paths_of "$ch"))
        intruders "$ch" a2
        after=$(inodes $(paths_of "$ch"))
        [ "$before" = "$after" ] || problem "the first server's objects changed: before $before, after $after"
        case $after in *missing*) problem "an object of the first server is gone: $after" ;; esac
    else
        problem "the first server never reached exchange 200"
    fi
    touch "$work/a2.go"
    reap "$spid"; expect_status "$status" 0 "the first server (tool)"
    reap "$cpid"; expect_status "$status" 0 "its client"
    run "$WAIT_BOUND" "$work/a2-lines" "$hostile" check-lines "$work/a2.req" "$work/a2-server.out"
    expect_value "$work/a2-lines.out" ok 400 "the tool server's exchanges" lines
    expect_value "$work/a2-lines.out" wrong 0 "the tool server's exchanges" lines
    expect_clean_shm "$ch"
    end
}

# =============================================================================
# b. A third process posting REQ or RES
# =============================================================================
case_b() {
    local sem ch cpid spid ppid n=10000   # the brief's 2,000 did not always fail on the old code
    requests_file "$work/b.req" "$n"
    for sem in REQ RES; do
        begin "b-capi-$sem: C server and C client, $n exchanges, a third process posts $sem every 200 us"
        ch=${prefix}b1$sem
        spawn cpid "$LOOP_BOUND" "$work/b1$sem-client" "$victim" client "$ch" --timeout-ms "$VT_MS"
        spawn spid "$LOOP_BOUND" "$work/b1$sem-server" "$victim" server "$ch" --count "$n" --hold-at 1 \
            --hold-file "$work/b1$sem" --timeout-ms "$VT_MS"
        evidence "$work/b1$sem-server.out" "$work/b1$sem-server.err" "$work/b1$sem-client.err" "$work/b1$sem-post.out"
        await_file "$work/b1$sem.half" "$LOOP_BOUND" || problem "the server never finished its first exchange"
        spawn ppid "$LOOP_BOUND" "$work/b1$sem-post" "$hostile" post "$sem" "$ch" 200 $((LOOP_BOUND * 1000))
        await "$work/b1$sem-post.out" '^posting' "$WAIT_BOUND" || problem "the third process never opened $sem"
        touch "$work/b1$sem.go"
        reap "$spid"; expect_status "$status" 0 "the server"
        reap "$cpid"; expect_clean "$status" "the client"
        stop "$ppid"; expect_clean "$status" "the posting process"
        expect_value "$work/b1$sem-server.out" wrong 0 "the server" summary
        expect_value "$work/b1$sem-server.out" ok "$n" "the server" summary
        [ "$(value "$work/b1$sem-post.out" posts)" -gt 0 ] 2> /dev/null || problem "the third process never posted"
        expect_clean_shm "$ch"
        end

        begin "b-tool-server-$sem: tool server and C client, $n exchanges, a third process posts $sem"
        ch=${prefix}b2$sem
        spawn cpid "$LOOP_BOUND" "$work/b2$sem-client" "$victim" client "$ch" --timeout-ms "$VT_MS" --hold-at 1 --hold-file "$work/b2$sem"
        spawn spid "$LOOP_BOUND" "$work/b2$sem-server" "$tool" server --channel "$ch" --requests "$work/b.req" --count "$n" --timeout "$VT"
        evidence "$work/b2$sem-server.err" "$work/b2$sem-client.err" "$work/b2$sem-lines.out" "$work/b2$sem-lines.err"
        await_file "$work/b2$sem.half" "$LOOP_BOUND" || problem "the client never got its second request"
        spawn ppid "$LOOP_BOUND" "$work/b2$sem-post" "$hostile" post "$sem" "$ch" 200 $((LOOP_BOUND * 1000))
        await "$work/b2$sem-post.out" '^posting' "$WAIT_BOUND" || problem "the third process never opened $sem"
        touch "$work/b2$sem.go"
        reap "$spid"; expect_status "$status" 0 "the tool server"
        reap "$cpid"; expect_clean "$status" "the client"
        stop "$ppid"; expect_clean "$status" "the posting process"
        run "$WAIT_BOUND" "$work/b2$sem-lines" "$hostile" check-lines "$work/b.req" "$work/b2$sem-server.out"
        expect_value "$work/b2$sem-lines.out" wrong 0 "the tool server's exchanges" lines
        expect_value "$work/b2$sem-lines.out" ok "$n" "the tool server's exchanges" lines
        expect_clean_shm "$ch"
        end

        begin "b-tool-client-$sem: C server and tool client, $n exchanges, a third process posts $sem"
        ch=${prefix}b3$sem
        spawn cpid "$LOOP_BOUND" "$work/b3$sem-client" "$tool" client --channel "$ch" --dir "$work/img" --attach-timeout "$VT"
        spawn spid "$LOOP_BOUND" "$work/b3$sem-server" "$victim" server "$ch" --mode image --count "$n" --hold-at 1 \
            --hold-file "$work/b3$sem" --timeout-ms "$VT_MS"
        evidence "$work/b3$sem-server.out" "$work/b3$sem-server.err" "$work/b3$sem-client.err"
        await_file "$work/b3$sem.half" "$LOOP_BOUND" || problem "the server never finished its first exchange"
        spawn ppid "$LOOP_BOUND" "$work/b3$sem-post" "$hostile" post "$sem" "$ch" 200 $((LOOP_BOUND * 1000))
        await "$work/b3$sem-post.out" '^posting' "$WAIT_BOUND" || problem "the third process never opened $sem"
        touch "$work/b3$sem.go"
        reap "$spid"; expect_status "$status" 0 "the server"
        reap "$cpid"; expect_status "$status" 0 "the tool client"
        stop "$ppid"; expect_clean "$status" "the posting process"
        expect_value "$work/b3$sem-server.out" wrong 0 "the server" summary
        expect_value "$work/b3$sem-server.out" ok "$n" "the server" summary
        expect_clean_shm "$ch"
        end
    done
}

# =============================================================================
# c. Another user races a victim that attaches (symlink exchange)
# =============================================================================
# start_swap VAR CH SEM TAG: the other user owns SEM's name and swaps it with a
# symlink to the channel's other semaphore, posting and truncating her own.
start_swap() {
    spawn "$1" "$LOOP_BOUND" "$work/$4-swap" setpriv --reuid="$other_uid" --regid="$other_gid" --clear-groups -- \
        "$hostile" swap "$2" "$3" $((LOOP_BOUND * 1000)) \
        --post-every 3 --truncate-every 64
    await "$work/$4-swap.out" '^swapping=' "$WAIT_BOUND"
}

case_c() {
    if ! ensure_other_user; then skip "c (all checks)" "$why_not"; return; fi
    local sem ch apid i bad
    for sem in RES REQ; do
        begin "c-capi-server-$sem: 20000 C server opens while another user swaps $sem with a symlink to our semaphore"
        ch=${prefix}c1$sem
        [ "$sem" = REQ ] && "$hostile" plant "$ch" RES   # the symlink's target: our own RES
        if start_swap apid "$ch" "$sem" "c1$sem"; then
            run "$LOOP_BOUND" "$work/c1$sem-victim" "$victim" attempts-server "$ch" 20000 --timeout-ms 20
            expect_status "$status" 0 1 "the C server"
            expect_value "$work/c1$sem-victim.out" wrong 0 "the C server (opens that accepted her semaphore, forged answers)" summary
            expect_value "$work/c1$sem-victim.out" forged 0 "the C server (forged answers accepted)" summary
        else
            problem "the other user's swap never started"
        fi
        stop "$apid"; expect_clean "$status" "the swapping process"
        evidence "$work/c1$sem-victim.out" "$work/c1$sem-victim.err" "$work/c1$sem-swap.out" "$work/c1$sem-swap.err"
        [ "$sem" = REQ ] && rm -f "/dev/shm/sem.SEM_${ch}_RES"
        expect_clean_shm "$ch"
        end

        begin "c-capi-client-$sem: 20000 C client attaches while another user swaps $sem (no server: nothing to accept)"
        ch=${prefix}c2$sem
        [ "$sem" = REQ ] && "$hostile" plant "$ch" RES
        if start_swap apid "$ch" "$sem" "c2$sem"; then
            run "$LOOP_BOUND" "$work/c2$sem-victim" "$victim" attempts-client "$ch" 20000 --attach-timeout-ms 20
            expect_status "$status" 0 1 "the C client"
            expect_value "$work/c2$sem-victim.out" wrong 0 "the C client (attaches that accepted her semaphore)" summary
        else
            problem "the other user's swap never started"
        fi
        stop "$apid"; expect_clean "$status" "the swapping process"
        evidence "$work/c2$sem-victim.out" "$work/c2$sem-victim.err" "$work/c2$sem-swap.out"
        [ "$sem" = REQ ] && rm -f "/dev/shm/sem.SEM_${ch}_RES"
        expect_clean_shm "$ch"
        end
    done

    begin "c-tool-server: 200 tool servers while another user swaps RES (no client: an exchange that ends is forged)"
    ch=${prefix}c3
    if start_swap apid "$ch" RES c3; then
        bad=0
        for ((i = 1; i <= 200; i++)); do
            run "$WAIT_BOUND" "$work/c3-tool" "$tool" server --channel "$ch" --count 1 --timeout 0.05
            if [ "$status" -ne 3 ]; then
                bad=$((bad + 1))
                [ "$bad" -le 3 ] && problem "tool server $i: $(how "$status") (3 = refused); $(head -c 200 "$work/c3-tool.out" | tr '\n' ' ') $(head -n 2 "$work/c3-tool.err" | tr '\n' ' ')"
            fi
        done
        [ "$bad" -eq 0 ] || problem "$bad of 200 tool servers were not refused"
    else
        problem "the other user's swap never started"
    fi
    stop "$apid"; expect_clean "$status" "the swapping process"
    evidence "$work/c3-swap.out"
    expect_clean_shm "$ch"
    end

    begin "c-tool-client: 200 tool clients attach to stale segments while another user swaps RES"
    ch=${prefix}c4
    # The tool client opens the semaphores only once segments exist: a
    # crashed server's (ours) are there.  Refused = exit 3; exit 1 means it
    # attached (to her semaphore) and then waited in vain for a request.
    "$hostile" plant "$ch" HEAD DATA
    if start_swap apid "$ch" RES c4; then
        bad=0
        for ((i = 1; i <= 200; i++)); do
            run "$WAIT_BOUND" "$work/c4-tool" "$tool" client --channel "$ch" --dir "$work/img" --attach-timeout 0.05 --timeout 0.2
            if [ "$status" -ne 3 ]; then
                bad=$((bad + 1))
                [ "$bad" -le 3 ] && problem "tool client $i: $(how "$status") (3 = refused); $(head -n 2 "$work/c4-tool.err" | tr '\n' ' ')"
            fi
        done
        [ "$bad" -eq 0 ] || problem "$bad of 200 tool clients were not refused"
        echo "#   a tool client's message: $(tail -n 1 "$work/c4-tool.err")"
    else
        problem "the other user's swap never started"
    fi
    stop "$apid"; expect_clean "$status" "the swapping process"
    evidence "$work/c4-swap.out"
    rm -f "/dev/shm/SEG_${ch}_HEAD" "/dev/shm/SEG_${ch}_DATA"
    expect_clean_shm "$ch"
    end
}

# =============================================================================
# d. REQ or RES as a 0-byte regular file
# =============================================================================
case_d() {
    local sem role ch planted left others f
    for sem in REQ RES; do
        for role in capi-server capi-client tool-server tool-client; do
            begin "d-$role-$sem: $sem is a 0-byte regular file"
            ch=${prefix}d$sem${role//-/}
            "$hostile" zero-sem "$ch" "$sem" > /dev/null
            planted=sem.SEM_${ch}_$sem
            others=""
            if [ "$role" = tool-client ]; then
                # The tool client opens nothing before the server's segments
                # exist: give it a crashed server's segments.
                "$hostile" plant "$ch" HEAD DATA
                others="SEG_${ch}_HEAD SEG_${ch}_DATA"
            fi
            case $role in
            capi-server) run "$WAIT_BOUND" "$work/d-$ch" "$victim" open-server "$ch" ;;
            capi-client) run "$WAIT_BOUND" "$work/d-$ch" "$victim" open-client "$ch" --attach-timeout-ms 100 ;;
            tool-server) run "$WAIT_BOUND" "$work/d-$ch" "$tool" server --channel "$ch" --count 1 --timeout 1 ;;
            tool-client) run "$WAIT_BOUND" "$work/d-$ch" "$tool" client --channel "$ch" --dir "$work/img" --attach-timeout 0.1 --timeout 1 ;;
            esac
            expect_status "$status" 3 "the $role"
            case $role in capi-*)
                # PROTOCOL.md 3: a semaphore file shorter than a sem_t is refused (E_PROTOCOL).
                expect_value "$work/d-$ch.out" open SHMEMAPHORE_E_PROTOCOL "the $role" ;;
            *)
                # A clean message names the object that was refused.
                grep -a -q -F -- "$planted" "$work/d-$ch.err" ||
                    problem "the tool's message does not name $planted: $(tail -n 1 "$work/d-$ch.err")" ;;
            esac
            echo "#   $(tail -n 1 "$work/d-$ch.err")"
            left=$(objects_of "$ch" | grep -a -v -x -F -e "$planted" ${others:+$(printf -- '-e %s ' $others)})
            [ -z "$left" ] || problem "the $role left its own objects: $(echo "$left" | tr '\n' ' ')"
            for f in $planted $others; do
                [ -e "/dev/shm/$f" ] || problem "the planted $f was removed"
                rm -f "/dev/shm/$f"
            done
            evidence "$work/d-$ch.out" "$work/d-$ch.err"
            expect_clean_shm "$ch"
            end
        done
    done
}

# =============================================================================
# e. ls and rm while the owner truncates a semaphore file in a loop
# =============================================================================
case_e() {
    local ch=${prefix}e t1 t2 i bad_ls=0 bad_rm=0
    begin "e: 200 ls and 300 rm while REQ and RES are truncated to 0 and back in a loop"
    "$hostile" plant "$ch" HEAD DATA
    spawn t1 "$LOOP_BOUND" "$work/e-trunc-req" "$hostile" truncate-loop "/dev/shm/sem.SEM_${ch}_REQ" $((LOOP_BOUND * 1000))
    spawn t2 "$LOOP_BOUND" "$work/e-trunc-res" "$hostile" truncate-loop "/dev/shm/sem.SEM_${ch}_RES" $((LOOP_BOUND * 1000))
    await_file "/dev/shm/sem.SEM_${ch}_RES" "$WAIT_BOUND"
    for ((i = 1; i <= 200; i++)); do
        if ((i % 2)); then run "$WAIT_BOUND" "$work/e-ls" "$tool" ls; else run "$WAIT_BOUND" "$work/e-ls" "$tool" ls --json; fi
        if [ "$status" -ne 0 ]; then
            bad_ls=$((bad_ls + 1))
            [ "$bad_ls" -le 3 ] && problem "ls $i: $(how "$status"): $(head -n 1 "$work/e-ls.err")"
        fi
    done
    for ((i = 1; i <= 300; i++)); do
        "$hostile" plant "$ch" HEAD DATA
        run "$WAIT_BOUND" "$work/e-rm" "$tool" rm "$ch"
        if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
            bad_rm=$((bad_rm + 1))
            [ "$bad_rm" -le 3 ] && problem "rm $i: $(how "$status"): $(head -n 1 "$work/e-rm.err")"
        fi
    done
    [ "$bad_ls" -eq 0 ] || problem "$bad_ls of 200 ls runs failed"
    [ "$bad_rm" -eq 0 ] || problem "$bad_rm of 300 rm runs failed"
    stop "$t1"; expect_clean "$status" "the truncating process (REQ)"
    stop "$t2"; expect_clean "$status" "the truncating process (RES)"
    echo "#   $(cat "$work/e-trunc-req.out") (REQ), $(cat "$work/e-trunc-res.out") (RES); last rm: $(head -n 1 "$work/e-rm.out")"
    evidence "$work/e-ls.err" "$work/e-rm.out" "$work/e-rm.err"
    remove_objects "$ch"
    expect_clean_shm "$ch"
    end
}

# =============================================================================
# f, g, h, j: lying peers
# =============================================================================
# The truncating liar must run while the victim writes: with two CPUs or
# more, the liar and the victim get one each (taskset), so that the victim's
# wake-up never preempts the liar (case f).
pin_liar=() pin_victim=()
if command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_liar=(taskset -c 0) pin_victim=(taskset -c 1)
fi
pinned=0
# lying_server_vs CHECKNAME CH VICTIM-KIND FLAGS HOSTILE-OPTIONS...
#   A lying server (hostile.c) against a client: VICTIM-KIND capi or tool.
#   Leaves the victim's status in $vstatus, the files in $work/CH-{hs,victim}.
lying_server_vs() {
    local ch=$1 kind=$2 flags=$3 hpid
    shift 3
    local pl=() pv=()
    [ "$pinned" = 1 ] && pl=("${pin_liar[@]}") pv=("${pin_victim[@]}")
    spawn hpid "$LOOP_BOUND" "$work/$ch-hs" "${pl[@]}" "$hostile" server "$ch" --timeout-ms "$VT_MS" "$@"
    if [ "$kind" = capi ]; then
        run "$LOOP_BOUND" "$work/$ch-victim" "${pv[@]}" "$victim" client "$ch" --timeout-ms "$VT_MS" $flags
    else
        run "$LOOP_BOUND" "$work/$ch-victim" "${pv[@]}" "$tool" client --channel "$ch" --dir "$work/img" --attach-timeout "$VT" --timeout "$VT" $flags
    fi
    vstatus=$status
    stop "$hpid"; hstatus=$status
    evidence "$work/$ch-hs.out" "$work/$ch-hs.err" "$work/$ch-victim.out" "$work/$ch-victim.err"
    expect_clean "$vstatus" "the victim client"
    expect_clean "$hstatus" "the lying server"
}
# The lying server's verdict: earlier and later exchanges right, every request answered.
expect_lying_server_report() { # FILE BEFORE ATTACKS AFTER
    expect_value "$1" wrong 0 "the lying server (wrong answers)" "^server "
    expect_value "$1" timeouts 0 "the lying server (requests never answered)" "^server "
    expect_value "$1" before_ok "$2/$2" "earlier exchanges" "^server "
    expect_value "$1" attack_answers "$3/$3" "attacked requests answered" "^server "
    expect_value "$1" after_ok "$4/$4" "later exchanges" "^server "
}
# expect_landed FILE PATTERN: the liar's truncation hit at least one victim's turn
# (otherwise the check proved nothing).
expect_landed() {
    local n
    n=$(value "$1" landed "$2")
    [ "${n:-0}" -gt 0 ] 2> /dev/null || problem "the truncation never landed during the victim's turn (landed=${n:-<missing>})"
}
# lying_client_vs CH KIND FLAGS VICTIM-ARGS -- HOSTILE-OPTIONS...
lying_client_vs() {
    local ch=$1 kind=$2 flags=$3 hpid vargs=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vargs+=("$1"); shift; done
    shift
    local pl=() pv=()
    [ "$pinned" = 1 ] && pl=("${pin_liar[@]}") pv=("${pin_victim[@]}")
    spawn hpid "$LOOP_BOUND" "$work/$ch-hc" "${pl[@]}" "$hostile" client "$ch" --timeout-ms "$VT_MS" "$@"
    if [ "$kind" = capi ]; then
        run "$LOOP_BOUND" "$work/$ch-victim" "${pv[@]}" "$victim" server "$ch" --timeout-ms "$VT_MS" $flags "${vargs[@]}"
    else
        run "$LOOP_BOUND" "$work/$ch-victim" "${pv[@]}" "$tool" server --channel "$ch" --timeout "$VT" $flags "${vargs[@]}"
    fi
    vstatus=$status
    stop "$hpid"; hstatus=$status
    evidence "$work/$ch-hc.out" "$work/$ch-hc.err" "$work/$ch-victim.out" "$work/$ch-victim.err"
    expect_clean "$vstatus" "the victim server"
    expect_clean "$hstatus" "the lying client"
}
# trace_ok FILE FIRST: the victim server's first FIRST exchanges were OK.
expect_first_ok() { # FILE COUNT WHAT [LINE-PATTERN]
    local ok
    ok=$(value "$1" ok "${4:-summary}")
    [ "${ok:-0}" -ge "$2" ] 2> /dev/null || problem "$3: ok=${ok:-<missing>}, expected at least $2"
}
big_requests() { # big_requests FILE COUNT PAD-BYTES: tool request lines k<i>:8; + padding
    local pad i
    pad=$(head -c "$3" /dev/zero | tr '\0' 'p')
    for ((i = 1; i <= $2; i++)); do printf 'k%d:8;%s\n' "$i" "$pad"; done > "$1"
}

case_f() {
    local mode flags tflags ch
    pinned=1
    for mode in trusted untrusted; do
        flags=""; tflags=""
        [ "$mode" = untrusted ] && flags=--untrusted && tflags=$tool_untrusted

        begin "f-capi-client-$mode: the server truncates DATA while the C client writes 16 MB answers"
        ch=${prefix}f1$mode
        lying_server_vs "$ch" capi "$flags" --attack truncate --before 3 --attacks 20 --after 3 --attack-request 'k%ld:16777216'
        expect_lying_server_report "$work/$ch-hs.out" 3 20 3
        expect_landed "$work/$ch-hs.out" "^server "
        expect_errors "$work/$ch-victim.out" SHMEMAPHORE_E_PROTOCOL ENOSPC
        expect_value "$work/$ch-victim.out" unanswered 0 "the C client (requests left unanswered)" summary
        expect_clean_shm "$ch"
        end

        begin "f-tool-client-$mode: the server truncates DATA while the tool client writes a 12 MB image"
        ch=${prefix}f2$mode
        lying_server_vs "$ch" tool "$tflags" --attack truncate --before 3 --attacks 20 --after 3 --attack-request b
        expect_lying_server_report "$work/$ch-hs.out" 3 20 3
        expect_landed "$work/$ch-hs.out" "^server "
        expect_clean_shm "$ch"
        end

        begin "f-capi-server-$mode: the client truncates DATA while the C server writes 16 MB requests"
        ch=${prefix}f3$mode
        lying_client_vs "$ch" capi "$flags" --count 16 --request-size 16777216 --response-len 8 -- \
            --attack truncate --before 3 --attacks 10 --after 3
        expect_landed "$work/$ch-hc.out" "^client "
        expect_value "$work/$ch-victim.out" wrong 0 "the C server" summary
        # PEER_ERROR: the liar answers "bad request" when its own truncation
        # came after the request was complete.
        expect_errors "$work/$ch-victim.out" SHMEMAPHORE_E_PROTOCOL ENOSPC SHMEMAPHORE_E_PEER_ERROR
        expect_first_ok "$work/$ch-victim.out" 6 "the C server's exchanges before and after the attack"
        expect_clean_shm "$ch"
        end

        begin "f-tool-server-$mode: the client truncates DATA while the tool server writes 8 MB requests"
        ch=${prefix}f4$mode
        big_requests "$work/$ch.req" 4 8388608   # cycled through by --count 16
        lying_client_vs "$ch" tool "$tflags" --requests "$work/$ch.req" --count 16 -- \
            --attack truncate --before 3 --attacks 10 --after 3
        expect_landed "$work/$ch-hc.out" "^client "
        expect_status "$vstatus" 0 1 "the tool server"
        run "$WAIT_BOUND" "$work/$ch-lines" "$hostile" check-lines "$work/$ch.req" "$work/$ch-victim.out"
        expect_value "$work/$ch-lines.out" wrong 0 "the tool server's exchanges" lines
        local lines_ok
        lines_ok=$(value "$work/$ch-lines.out" ok lines)
        [ "${lines_ok:-0}" -ge 3 ] 2> /dev/null || problem "the tool server's first 3 exchanges: ok=${lines_ok:-<missing>}"
        ! grep -a -q -E 'Fatal error|Stack dump' "$work/$ch-victim.err" || problem "the tool server crashed"
        expect_clean_shm "$ch"
        end
    done
    pinned=0
}

case_g() {
    if ! ensure_namespace; then skip "g (all checks)" "needs root and unshare for a private 2 MB /dev/shm"; return; fi
    local mode flags tflags ch script
    # Inside the namespace: $1 hostile, $2 victim command (a word list), rest: hostile options.
    script='h=$1; out=$2; role=$3; shift 3
            vargs=(); while [ "$1" != -- ]; do vargs+=("$1"); shift; done; shift
            "$h" "$role" "$@" > "$out-h.out" 2> "$out-h.err" & hp=$!
            "${vargs[@]}" > "$out-victim.out" 2> "$out-victim.err"; s=$?
            kill -TERM $hp 2> /dev/null; wait $hp; echo "hostile=$?" > "$out-status"; echo "victim=$s" >> "$out-status"'
    for mode in trusted untrusted; do
        flags=""; tflags=""
        [ "$mode" = untrusted ] && flags=--untrusted && tflags=$tool_untrusted

        begin "g-capi-client-$mode: the C client answers 768 KB into hidden holes of a full /dev/shm"
        ch=${prefix}g1$mode
        in_namespace "$LOOP_BOUND" "$work/$ch-ns" "$script" "$hostile" "$work/$ch" server \
            "$victim" client "$ch" --timeout-ms "$VT_MS" $flags -- \
            "$ch" --timeout-ms "$VT_MS" --attack hole --before 3 --attacks 4 --after 3 --attack-request m
        g_expect "$ch" server
        expect_lying_server_report "$work/$ch-h.out" 3 4 3
        expect_present "$work/$ch-h.out" ' filled=[1-9][0-9]* hidden=1' "the liar hid holes and filled /dev/shm"
        expect_errors "$work/$ch-victim.out" ENOSPC
        expect_present "$work/$ch-victim.out" 'errors=ENOSPC' "the C client reports ENOSPC"
        end

        begin "g-tool-client-$mode: the tool client answers a 768 KB image into hidden holes of a full /dev/shm"
        ch=${prefix}g2$mode
        in_namespace "$LOOP_BOUND" "$work/$ch-ns" "$script" "$hostile" "$work/$ch" server \
            "$tool" client --channel "$ch" --dir "$work/img" --attach-timeout "$VT" --timeout "$VT" $tflags -- \
            "$ch" --timeout-ms "$VT_MS" --attack hole --before 3 --attacks 4 --after 3 --attack-request m
        g_expect "$ch" server
        expect_lying_server_report "$work/$ch-h.out" 3 4 3
        expect_present "$work/$ch-h.out" ' filled=[1-9][0-9]* hidden=1' "the liar hid holes and filled /dev/shm"
        end

        begin "g-capi-server-$mode: the C server writes a 768 KB request into punched holes, hidden, of a full /dev/shm"
        ch=${prefix}g3$mode
        in_namespace "$LOOP_BOUND" "$work/$ch-ns" "$script" "$hostile" "$work/$ch" client \
            "$victim" server "$ch" --count 8 --request-size 786432 --response-len 8 --timeout-ms "$VT_MS" $flags -- \
            "$ch" --timeout-ms "$VT_MS" --attack hole --punch --before 3 --attacks 1 --after 4
        g_expect "$ch" client
        expect_present "$work/$ch-h.out" ' filled=[1-9][0-9]* hidden=1' "the liar hid holes and filled /dev/shm"
        expect_value "$work/$ch-victim.out" wrong 0 "the C server" summary
        expect_value "$work/$ch-victim.out" ok 4 "the C server's exchanges before the holes" summary
        expect_errors "$work/$ch-victim.out" ENOSPC
        expect_present "$work/$ch-victim.out" 'errors=ENOSPC' "the C server reports ENOSPC"
        end

        begin "g-tool-server-$mode: the tool server writes 768 KB requests into punched holes, hidden, of a full /dev/shm"
        ch=${prefix}g4$mode
        big_requests "$work/$ch.req" 8 786426
        in_namespace "$LOOP_BOUND" "$work/$ch-ns" "$script" "$hostile" "$work/$ch" client \
            "$tool" server --channel "$ch" --requests "$work/$ch.req" --count 8 --timeout "$VT" $tflags -- \
            "$ch" --timeout-ms "$VT_MS" --attack hole --punch --before 3 --attacks 1 --after 4
        g_expect "$ch" client
        expect_present "$work/$ch-h.out" ' filled=[1-9][0-9]* hidden=1' "the liar hid holes and filled /dev/shm"
        expect_status "$(value "$work/$ch-status" victim '^victim=')" 1 "the tool server (an exchange failed)"
        run "$WAIT_BOUND" "$work/$ch-lines" "$hostile" check-lines "$work/$ch.req" "$work/$ch-victim.out"
        expect_value "$work/$ch-lines.out" wrong 0 "the tool server's exchanges" lines
        expect_value "$work/$ch-lines.out" ok 4 "the tool server's exchanges before the holes" lines
        grep -a -q -i 'space' "$work/$ch-victim.err" || problem "the tool server's message does not name the lack of space"
        end
    done
}
g_expect() { # g_expect CH LIAR-ROLE: statuses inside the namespace, nothing left there
    local ch=$1 v h
    evidence "$work/$ch-h.out" "$work/$ch-h.err" "$work/$ch-victim.out" "$work/$ch-victim.err" "$work/$ch-ns.err"
    expect_status "$status" 0 "the namespace runner"
    v=$(value "$work/$ch-status" victim '^victim='); h=$(value "$work/$ch-status" hostile '^hostile=')
    expect_clean "${v:-255}" "the victim"
    expect_clean "${h:-255}" "the lying $2"
    [ -z "$(cat "$work/$ch-ns.left" 2> /dev/null)" ] || problem "left in the namespace's /dev/shm: $(tr '\n' ' ' < "$work/$ch-ns.left")"
}

case_h() {
    local mode flags tflags ch
    for mode in trusted untrusted; do
        flags=""; tflags=""
        [ "$mode" = untrusted ] && flags=--untrusted && tflags=$tool_untrusted

        begin "h-capi-client-$mode: DATA sized 1 << 60 by the server: the C client still answers"
        ch=${prefix}h1$mode
        lying_server_vs "$ch" capi "$flags" --attack huge --before 3 --attacks 8 --after 3
        expect_lying_server_report "$work/$ch-hs.out" 3 8 3
        expect_errors "$work/$ch-victim.out" SHMEMAPHORE_E_PROTOCOL SHMEMAPHORE_E_TOO_LARGE ENOMEM
        expect_value "$work/$ch-victim.out" unanswered 0 "the C client (requests left unanswered)" summary
        expect_clean_shm "$ch"
        end

        begin "h-tool-client-$mode: DATA sized 1 << 60 by the server: the tool client still answers"
        ch=${prefix}h2$mode
        lying_server_vs "$ch" tool "$tflags" --attack huge --before 3 --attacks 8 --after 3
        expect_lying_server_report "$work/$ch-hs.out" 3 8 3
        expect_clean_shm "$ch"
        end

        begin "h-capi-server-$mode: DATA sized 1 << 60 by the client: the C server gets every answer"
        ch=${prefix}h3$mode
        lying_client_vs "$ch" capi "$flags" --count 14 -- --attack huge --before 3 --attacks 8 --after 3
        expect_value "$work/$ch-victim.out" wrong 0 "the C server" summary
        expect_errors "$work/$ch-victim.out" SHMEMAPHORE_E_PROTOCOL SHMEMAPHORE_E_TOO_LARGE
        expect_first_ok "$work/$ch-victim.out" 6 "the C server's exchanges before and after"
        expect_clean_shm "$ch"
        end

        begin "h-tool-server-$mode: DATA sized 1 << 60 by the client: the tool server gets every answer"
        ch=${prefix}h4$mode
        requests_file "$work/$ch.req" 14
        lying_client_vs "$ch" tool "$tflags" --requests "$work/$ch.req" --count 14 -- --attack huge --before 3 --attacks 8 --after 3
        expect_status "$vstatus" 0 1 "the tool server"
        run "$WAIT_BOUND" "$work/$ch-lines" "$hostile" check-lines "$work/$ch.req" "$work/$ch-victim.out"
        expect_value "$work/$ch-lines.out" wrong 0 "the tool server's exchanges" lines
        expect_first_ok "$work/$ch-lines.out" 3 "the tool server's first exchanges" lines
        expect_clean_shm "$ch"
        end
    done
}

case_j() {
    local mode flags tflags ch n
    for mode in trusted untrusted; do
        flags=""; tflags=""
        [ "$mode" = untrusted ] && flags=--untrusted && tflags=$tool_untrusted

        begin "j-capi-client-$mode: malformed requests (L beyond DATA, HEAD of 4 bytes) get error code 2 from the C client"
        ch=${prefix}j1$mode
        lying_server_vs "$ch" capi "$flags" --attack badheader --before 3 --attacks 8 --after 3
        expect_lying_server_report "$work/$ch-hs.out" 3 8 3
        expect_value "$work/$ch-hs.out" bad_request_answers 8 "malformed requests answered with code 2" "^server "
        expect_errors "$work/$ch-victim.out" SHMEMAPHORE_E_PROTOCOL SHMEMAPHORE_E_TOO_LARGE
        expect_clean_shm "$ch"
        end

        begin "j-tool-client-$mode: malformed requests get error code 2 from the tool client"
        ch=${prefix}j2$mode
        lying_server_vs "$ch" tool "$tflags" --attack badheader --before 3 --attacks 8 --after 3
        # The tool may stop serving after a malformed request (exit 1), but
        # only after answering it with code 2.
        expect_status "$vstatus" 0 1 "the tool client"
        expect_value "$work/$ch-hs.out" wrong 0 "the lying server (wrong answers)" "^server "
        expect_value "$work/$ch-hs.out" before_ok 3/3 "earlier exchanges" "^server "
        n=$(value "$work/$ch-hs.out" bad_request_answers "^server ")
        [ "${n:-0}" -ge 1 ] 2> /dev/null || problem "no malformed request was answered with code 2 (bad_request_answers=${n:-<missing>})"
        [ "$vstatus" -eq 0 ] && expect_value "$work/$ch-hs.out" bad_request_answers 8 "malformed requests answered with code 2" "^server "
        expect_clean_shm "$ch"
        end

        begin "j-capi-server-$mode: lying response headers are protocol errors for the C server, never payloads"
        ch=${prefix}j3$mode
        lying_client_vs "$ch" capi "$flags" --count 16 -- --attack badheader --before 3 --attacks 10 --after 3
        expect_value "$work/$ch-victim.out" wrong 0 "the C server" summary
        expect_value "$work/$ch-victim.out" ok 6 "the C server's exchanges before and after" summary
        expect_errors "$work/$ch-victim.out" SHMEMAPHORE_E_PROTOCOL
        expect_clean_shm "$ch"
        end

        begin "j-tool-server-$mode: lying response headers are errors for the tool server, never payloads"
        ch=${prefix}j4$mode
        requests_file "$work/$ch.req" 16
        lying_client_vs "$ch" tool "$tflags" --requests "$work/$ch.req" --count 16 -- --attack badheader --before 3 --attacks 10 --after 3
        expect_status "$vstatus" 1 "the tool server (an exchange failed)"
        run "$WAIT_BOUND" "$work/$ch-lines" "$hostile" check-lines "$work/$ch.req" "$work/$ch-victim.out"
        expect_value "$work/$ch-lines.out" wrong 0 "the tool server's exchanges" lines
        expect_value "$work/$ch-lines.out" ok 3 "the tool server's exchanges before the lies" lines
        expect_clean_shm "$ch"
        end
    done
}

# =============================================================================
# i. Names with terminal escapes in `shmemaphore ls`
# =============================================================================
case_i() {
    local tag=${prefix}i f
    begin "i: ls and ls --json of channels whose names hold ESC[2J, OSC, newline, CR, BS, C1, DEL, TAB"
    "$hostile" names /dev/shm "$tag" > /dev/null || problem "cannot create the names"
    run "$WAIT_BOUND" "$work/i-ls" "$tool" ls
    expect_status "$status" 0 "ls"
    run "$WAIT_BOUND" "$work/i-json" "$tool" ls --json
    expect_status "$status" 0 "ls --json"
    for f in i-ls i-json; do
        grep -a -q -F "$tag" "$work/$f.out" || problem "$f: the channels are not listed"
        # Raw C0 controls (but newline), DEL, C1 controls, bytes that are not UTF-8.
        run "$WAIT_BOUND" "$work/$f-text" "$hostile" check-text "$work/$f.out"
        [ "$status" -eq 0 ] || problem "$f prints raw control bytes: $(head -n 3 "$work/$f-text.out" | tr '\n' ';')"
        LC_ALL=C grep -a -q '^INJECTED' "$work/$f.out" && problem "$f: a name's newline starts a line of its own"
        LC_ALL=C grep -a -q -P '^\s*INJECTED' "$work/$f.out" && problem "$f: a name's newline starts a line of its own (indented)"
        evidence "$work/$f.out" "$work/$f.err"
    done
    "$hostile" names /dev/shm "$tag" --remove > /dev/null
    [ -z "$(ls -A /dev/shm | grep -a -F "$tag")" ] || problem "names left in /dev/shm"
    find /dev/shm -maxdepth 1 -name "*${tag}*" -exec rm -f {} +
    end
}

# =============================================================================
started=$SECONDS
for c in $selected; do
    echo "== case $c: $(describe_case "$c")"
    "case_$c"
done
echo "hostile: $passed passed, $failed failed, $skipped skipped ($((SECONDS - started)) s)"
[ "$failed" -eq 0 ] || exit 1
[ "$passed" -eq 0 ] && [ "$skipped" -gt 0 ] && exit 77
exit 0
}

main "$@"; exit $?
