#!/bin/sh
# run-conformance.sh - one conformance pairing (docs/CONFORMANCE.md) as a test.
#
#   run-conformance.sh RUNNER SERVER:CLIENT [ARGUMENT...]
#
# Runs `RUNNER --pair SERVER:CLIENT ARGUMENT...` (RUNNER is the conformance
# runner, <build>/bin/shmemaphore-conformance; SERVER and CLIENT name
# built-in implementations: swift, c, raw; the ARGUMENTs are further options
# such as --count N) and passes when it exits 0 AND its summary says
# "1 passed, 0 failed", so that a runner which does not run the pairing (a
# placeholder, an option ignored) cannot pass.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -lt 2 ]; then
    sed -n '4p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
runner=$1
pair=$2
shift 2

output=$(mktemp "${TMPDIR:-/tmp}/shmemaphore-conformance.XXXXXX") || exit 1
trap 'rm -f "$output"' EXIT

echo "$runner --pair $pair $*"
"$runner" --pair "$pair" "$@" >"$output" 2>&1
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
