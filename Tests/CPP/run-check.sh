#!/bin/sh
# run-check.sh - runs a C++ check program with a channel-name prefix unique
# to the run, and removes whatever it left in /dev/shm even if it crashed.
#
#   run-check.sh PROGRAM PREFIX-STEM
#
# The prefix is PREFIX-STEM followed by this shell's PID (unique while it
# runs); the program names every channel PREFIX-..., removes them itself
# and fails its last check if any is left.  This script is the backstop for
# a program that dies before it can (a signal, an abort): it removes every
# /dev/shm object whose name holds "PREFIX-".  Exit status: the program's.
set -u
if [ $# -ne 2 ]; then
    sed -n '5p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
program=$1
prefix="$2$$"
"$program" "$prefix"
status=$?
for object in /dev/shm/*"$prefix"-*; do
    [ -e "$object" ] || continue
    echo "run-check.sh: removing $object, left by $program" >&2
    rm -f "$object"
done
exit "$status"
