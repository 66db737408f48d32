#!/bin/sh
# run-peer-pair.sh - runs one two-process conversation of the scripted test
# peers (Tests/CPeer/PEER-SPEC.md) and checks that it left /dev/shm clean.
#
#   run-peer-pair.sh SERVER_PEER CLIENT_PEER CHANNEL STEP...
#
# SERVER_PEER and CLIENT_PEER are peer programs (shmemaphore-testpeer,
# shmemaphore-c-peer).  CHANNEL is a base name; "-<pid>" is appended so that
# parallel runs (ctest -j, two build trees) never share a channel.
#
# Starts `CLIENT_PEER client CH` in the background (it waits up to 10 s for
# the server), then runs `SERVER_PEER server CH STEP...`, then waits for the
# client (it exits when the server closes the channel).  Both must exit 0,
# within PEER_TIMEOUT seconds each (default 120), and the channel's four
# objects must be gone from /dev/shm afterwards; leftovers are removed (and
# fail the run).  Exit status: 0 pass, 1 fail, 2 usage.
set -u

if [ $# -lt 4 ]; then
    sed -n '5p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
server_peer=$1
client_peer=$2
channel="$3-$$"
shift 3
limit=${PEER_TIMEOUT:-120}

# The channel's objects (docs/PROTOCOL.md, "Names").
objects="sem.SEM_${channel}_REQ sem.SEM_${channel}_RES SEG_${channel}_HEAD SEG_${channel}_DATA"

client_pid=
cleanup() {
    [ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null
    for object in $objects; do rm -f "/dev/shm/$object"; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "channel $channel: server $server_peer, client $client_peer, $# steps"

timeout "$limit" "$client_peer" client "$channel" &
client_pid=$!

timeout "$limit" "$server_peer" server "$channel" "$@"
server_status=$?

wait "$client_pid"
client_status=$?
client_pid=

# check ROLE STATUS: reports a non-zero exit status.
status=0
check() {
    case $2 in
        0) ;;
        124) echo "FAIL: $1 timed out after $limit s"; status=1 ;;
        *) echo "FAIL: $1 exited with status $2"; status=1 ;;
    esac
}
check server "$server_status"
check client "$client_status"

left=
for object in $objects; do
    [ -e "/dev/shm/$object" ] && left="$left $object"
done
if [ -n "$left" ]; then
    echo "FAIL: left in /dev/shm (removed now):$left"
    status=1
else
    echo "/dev/shm clean"
fi

[ "$status" -eq 0 ] && echo "PASS"
exit "$status"
