#!/bin/sh
# test.sh - every test of the Python binding, from a clean clone.
#
#   bindings/python/scripts/test.sh            (from anywhere; needs the Swift toolchain, cc, python3 with venv)
#
# 1. builds the library (swift build -c release --product shmemaphore; setup.py
#    does it) and `pip install`s bindings/python into a fresh venv
#    (--system-site-packages: numpy and pytest come from the system when it has
#    them, else pip fetches them);
# 2. finds the other implementations for the two-process tests: in
#    SHMEMAPHORE_BIN_DIR when given (a CMake build's build/bin), else it builds
#    them: the C examples, the raw and hostile peers with cc, the Swift tool and
#    the conformance runner with swift build (SHMEMAPHORE_PY_NO_TOOLS=1 skips
#    those two: their tests are then skipped);
# 3. runs pytest on bindings/python/tests from outside the source tree, so that
#    the installed package is the one tested;
# 4. runs scripts/test-wheel.sh (the wheel in a fresh venv).
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

echo "== library"
if [ -z "${SHMEMAPHORE_LIBRARY:-}" ]; then
    (cd "$root" && swift build -c release --product shmemaphore)
    SHMEMAPHORE_LIBRARY="$(cd "$root" && swift build -c release --show-bin-path)/libshmemaphore.so"
fi
# pip runs setup.py in bindings/python: the library's path must not be relative.
if [ -n "${SHMEMAPHORE_LIBRARY:-}" ]; then
    SHMEMAPHORE_LIBRARY="$(cd "$(dirname "$SHMEMAPHORE_LIBRARY")" && pwd)/$(basename "$SHMEMAPHORE_LIBRARY")"
    export SHMEMAPHORE_LIBRARY
fi
echo "$SHMEMAPHORE_LIBRARY"

echo "== pip install bindings/python into a venv"
"$python" -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q "$here"
"$py" -c "import pytest" 2>/dev/null || "$py" -m pip install -q pytest

echo "== peers for the two-process tests"
libdir="$work/lib"
mkdir -p "$libdir" "$work/bin"
cp "$SHMEMAPHORE_LIBRARY" "$libdir/libshmemaphore.so.1"
if [ -n "${SHMEMAPHORE_BIN_DIR:-}" ]; then
    bin=$(cd "$SHMEMAPHORE_BIN_DIR" && pwd)
else
    bin="$work/bin"
    cc=${CC:-cc}
    for program in server client; do
        "$cc" -std=c11 -O2 -I"$root/include" "$root/c-examples/$program.c" -L"$libdir" -l:libshmemaphore.so.1 \
            -Wl,-rpath,"$libdir" -lm -o "$bin/shmemaphore-example-$program"
    done
    "$cc" -std=gnu11 -O2 "$root/Tests/Hostile/hostile_peer.c" -lpthread -o "$bin/shmemaphore-hostile-peer"
    "$cc" -std=c11 -O2 $(pkg-config --cflags stb) "$root/Tests/Conformance/raw_peer.c" $(pkg-config --libs stb) \
        -lpthread -lm -o "$bin/shmemaphore-raw-peer"
    if [ "${SHMEMAPHORE_PY_NO_TOOLS:-0}" != 1 ]; then
        (cd "$root" && swift build --product shmemaphore-cli && swift build --product shmemaphore-conformance)
        debug=$(cd "$root" && swift build --show-bin-path)
        ln -sf "$debug/shmemaphore-cli" "$bin/shmemaphore"
        ln -sf "$debug/shmemaphore-conformance" "$bin/shmemaphore-conformance"
    fi
fi
for pair in SHMEMAPHORE_TOOL:shmemaphore SHMEMAPHORE_C_SERVER:shmemaphore-example-server \
    SHMEMAPHORE_C_CLIENT:shmemaphore-example-client SHMEMAPHORE_HOSTILE_PEER:shmemaphore-hostile-peer \
    SHMEMAPHORE_CONFORMANCE:shmemaphore-conformance; do
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
