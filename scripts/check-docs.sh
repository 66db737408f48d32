#!/usr/bin/env bash
# check-docs.sh - the Swift API reference (DocC) builds cleanly, and every
# public symbol of the Shmemaphore module has a doc comment.
#
# Usage: scripts/check-docs.sh
#
# Runs from any directory; builds in .build-docs (a scratch folder of its
# own, so that the plugin's debug build of the module never invalidates
# .build).  Prints "ok: ..." or "FAIL: ..." per check, then
# "N passed, N failed"; exits 1 if any check failed.
#
#   1. `swift package generate-documentation --target Shmemaphore
#      --warnings-as-errors` (swift-docc-plugin): the catalog
#      Sources/Shmemaphore/Shmemaphore.docc and the doc comments build
#      without a warning (a broken ``symbol`` link, an unknown topic, a
#      parameter that does not exist...).  The archive is
#      .build-docs/Shmemaphore.doccarchive.
#   2. scripts/check-doc-comments.py on the symbol graph that step 1
#      extracted: every public symbol declared in Sources/Shmemaphore has
#      a /// comment of its own.
#
# To read the reference: `swift package --disable-sandbox
# preview-documentation --target Shmemaphore` serves it on localhost:8080.
set -uo pipefail
cd "$(dirname "$0")/.."

scratch=.build-docs
archive=$scratch/Shmemaphore.doccarchive
passed=0
failed=0
check() { # check NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAIL: $1"; fi
}

# Graphs of an earlier run must not stand in for this one's.
rm -rf "$scratch"/*/extracted-symbols
log=$(mktemp)
trap 'rm -f "$log"' EXIT

status=0
swift package --scratch-path "$scratch" --disable-sandbox \
    generate-documentation --target Shmemaphore --warnings-as-errors \
    --output-path "$archive" >"$log" 2>&1 || status=1
if [ "$status" -ne 0 ]; then
    # DocC's diagnostics (each with its file, line and context), or the build's tail.
    if grep -q '^Building documentation for' "$log"; then
        sed -n '/^Building documentation for/,$p' "$log"
    else
        tail -n 40 "$log"
    fi
fi
check "DocC builds the Shmemaphore reference without warnings ($archive)" "$status"

graphs=$(find "$scratch" -path '*/extracted-symbols/*' -name Shmemaphore.symbols.json -print 2>/dev/null)
if [ "$(printf '%s\n' "$graphs" | grep -c .)" -ne 1 ]; then
    echo "the symbol graph of Shmemaphore is missing or not unique under $scratch: ${graphs:-none}"
    check "every public symbol has a doc comment" 1
else
    python3 scripts/check-doc-comments.py "$(dirname "$graphs")" Shmemaphore
    check "every public symbol has a doc comment" $?
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
