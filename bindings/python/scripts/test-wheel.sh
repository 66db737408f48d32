#!/bin/sh
# test-wheel.sh - build the binding's wheel and use it where no build tree is in sight.
#
#   bindings/python/scripts/test-wheel.sh [WORK_DIR]
#
# 1. pip wheel bindings/python -w WORK/dist (the library comes from
#    SHMEMAPHORE_LIBRARY, or setup.py runs swift build in the repository);
# 2. checks that the wheel carries the extension, libshmemaphore.so.1, py.typed
#    and the .pyi, and that the extension finds the library through $ORIGIN;
# 3. installs it into a fresh venv (python3 -m venv --system-site-packages:
#    numpy from the system, no network) and, from an empty folder, runs a
#    server and a client in two processes: bytes, an image, an error.
# Exit status 0 when all of it works.  PYTHON picks the interpreter (python3).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=${1:-}
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/shmemaphore-wheel.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
# pip runs setup.py in bindings/python: the library's path must not be relative.
if [ -n "${SHMEMAPHORE_LIBRARY:-}" ]; then
    SHMEMAPHORE_LIBRARY="$(cd "$(dirname "$SHMEMAPHORE_LIBRARY")" && pwd)/$(basename "$SHMEMAPHORE_LIBRARY")"
    export SHMEMAPHORE_LIBRARY
fi

echo "== building the wheel"
"$python" -m pip wheel --no-deps -q "$here" -w "$work/dist"
wheel=$(ls "$work"/dist/shmemaphore-*.whl)
echo "$wheel"

echo "== checking its contents"
"$python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["shmemaphore/__init__.py", "shmemaphore/libshmemaphore.so.1", "shmemaphore/py.typed",
        "shmemaphore/_shmemaphore.pyi", "shmemaphore/conformance.py"]
missing = [n for n in need if n not in names]
ext = [n for n in names if n.startswith("shmemaphore/_shmemaphore.") and n.endswith(".so")]
if missing or not ext:
    sys.exit(f"wheel lacks {missing or 'the extension'}: {names}")
print("ok:", ", ".join(sorted(need + ext)))
PY

echo "== installing it into a fresh venv"
"$python" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install -q --no-deps --no-index "$wheel"

echo "== a round trip from a folder that cannot see the build tree"
run=$(mktemp -d "${TMPDIR:-/tmp}/shmemaphore-wheel-run.XXXXXX")
cd "$run"
env -u PYTHONPATH -u LD_LIBRARY_PATH "$work/venv/bin/python" - "$here" <<'PY'
import os, subprocess, sys
import numpy as np
import shmemaphore

repo = os.path.realpath(sys.argv[1])
package = os.path.realpath(os.path.dirname(shmemaphore.__file__))
assert not package.startswith(repo), f"imported from the build tree: {package}"
assert package.startswith(os.path.realpath(sys.prefix)), package
ext = [f for f in os.listdir(package) if f.startswith("_shmemaphore.") and f.endswith(".so")][0]
ldd = subprocess.run(["ldd", os.path.join(package, ext)], capture_output=True, text=True).stdout
line = [l for l in ldd.splitlines() if "libshmemaphore.so.1" in l][0]
assert os.path.realpath(line.split("=>")[1].split()[0]).startswith(package), line
print("library:", line.strip())

name = f"pytest-wheel-{os.getpid()}"
client_code = """
import sys, numpy as np, shmemaphore
with shmemaphore.Client(sys.argv[1], attach_timeout=60) as c:
    while True:
        try:
            req = c.receive(timeout=60)
        except shmemaphore.PeerGone:
            break
        if req == b"img":
            c.respond_image(np.full((4, 6, 3), 9, np.uint8))
        elif req == b"err":
            c.respond_error(1, "not here")
        else:
            c.respond(req[::-1])
"""
try:
    with shmemaphore.Server(name) as server:
        peer = subprocess.Popen([sys.executable, "-c", client_code, name])
        assert server.request(b"wheel", timeout=60).tobytes() == b"leehw"
        r = server.request("img", timeout=60)
        assert r.kind == shmemaphore.Kind.IMAGE and r.to_numpy(copy=True).shape == (4, 6, 3)
        try:
            server.request("err", timeout=60)
            raise SystemExit("no PeerError")
        except shmemaphore.PeerError as e:
            assert e.peer_code == 1
    assert peer.wait(timeout=60) == 0
finally:
    shmemaphore.remove_channel(name, force=True)
print(f"ok: round trip through {package} (library {shmemaphore.version})")
PY
status=$?
cd / && rm -rf "$run"
exit $status
