#!/bin/sh
# run-conformance.sh - one conformance pairing (docs/CONFORMANCE.md) as a test.
#
#   run-conformance.sh TOOL SERVER CLIENT COUNT
#
# Runs `TOOL conformance --pair SERVER:CLIENT --count COUNT` (SERVER and
# CLIENT name built-in implementations: swift, c, raw) and passes when it
# exits 0 AND its summary says "1 passed, 0 failed", so that a tool which
# ignores the request (a placeholder, an unknown option swallowed) cannot
# pass.  Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -ne 4 ]; then
    sed -n '4p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
tool=$1
pair="$2:$3"
count=$4

output=$(mktemp "${TMPDIR:-/tmp}/shmemaphore-conformance.XXXXXX") || exit 1
trap 'rm -f "$output"' EXIT

echo "$tool conformance --pair $pair --count $count"
"$tool" conformance --pair "$pair" --count "$count" >"$output" 2>&1
status=$?
cat "$output"

if [ "$status" -ne 0 ]; then
    echo "FAIL: exit status $status"
    exit 1
fi
if ! grep -Eq '(^|[^0-9])1 passed, 0 failed' "$output"; then
    echo "FAIL: exit status 0, but no summary line '1 passed, 0 failed' in the output"
    exit 1
fi
echo "PASS"
