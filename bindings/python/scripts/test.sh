#!/bin/sh
# test.sh - every test of the Python binding.
#
#   bindings/python/scripts/test.sh      (from anywhere; needs python3 with venv and its headers)
#
# 1. the binding pip-installed into a venv (scripts/install-venv.sh), or the
#    venv SHMEMAPHORE_PY_VENV when given (ctest's python-install made it);
# 2. the other implementations for the two-process tests from a CMake build:
#    SHMEMAPHORE_BIN_DIR when given (ctest passes <build>/bin), else the
#    repository's build/ (configured Release and built when absent), with
#    the library SHMEMAPHORE_LIBRARY (default: that build's);
# 3. pytest on bindings/python/tests, run from outside the source tree, so
#    that the installed package is the one tested;
# 4. scripts/test-wheel.sh (the wheel in a fresh venv).
# Everything it makes goes to a temporary folder (SHMEMAPHORE_PY_WORK to keep one).
# Exit status 0 when every step passed.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}
work=${SHMEMAPHORE_PY_WORK:-}
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/shmemaphore-python.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
start=$(date +%s)

echo "== programs of the CMake build"
if [ -n "${SHMEMAPHORE_BIN_DIR:-}" ]; then
    bin=$(cd "$SHMEMAPHORE_BIN_DIR" && pwd)
else
    build="$root/build"
    [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
    bin="$build/bin"
fi
SHMEMAPHORE_LIBRARY=${SHMEMAPHORE_LIBRARY:-$bin/../lib/libshmemaphore.so}
echo "$bin, $SHMEMAPHORE_LIBRARY"

echo "== the binding in a venv"
if [ -n "${SHMEMAPHORE_PY_VENV:-}" ]; then
    py="$SHMEMAPHORE_PY_VENV/bin/python"
else
    PYTHON="$python" "$here/scripts/install-venv.sh" "$work/venv" "$SHMEMAPHORE_LIBRARY"
    py="$work/venv/bin/python"
fi
SHMEMAPHORE_LIBRARY="$(cd "$(dirname "$SHMEMAPHORE_LIBRARY")" && pwd)/$(basename "$SHMEMAPHORE_LIBRARY")"
export SHMEMAPHORE_LIBRARY

for pair in SHMEMAPHORE_TOOL:shmemaphore SHMEMAPHORE_C_SERVER:shmemaphore-example-server \
    SHMEMAPHORE_C_CLIENT:shmemaphore-example-client SHMEMAPHORE_HOSTILE_PEER:shmemaphore-hostile-peer; do
    var=${pair%%:*}
    file="$bin/${pair#*:}"
    if [ -x "$file" ]; then
        export "$var=$file"
        echo "$var=$file"
    fi
done

echo "== pytest"
cd "$work"
env -u PYTHONPATH "$py" -m pytest -p no:cacheprovider -q -rs "$here/tests"

echo "== wheel"
PYTHON="$python" "$here/scripts/test-wheel.sh" "$work/wheel"

echo "== Python binding: all passed in $(( $(date +%s) - start )) s"
