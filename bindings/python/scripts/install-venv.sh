#!/bin/sh
# install-venv.sh - a virtual environment with the binding pip-installed into it.
#
#   bindings/python/scripts/install-venv.sh VENV [LIBRARY [PIP PACKAGES...]]
#
# Creates VENV unless it exists (python3 -m venv --system-site-packages:
# numpy and pytest come from the system when it has them, else pip fetches
# them) and runs `pip install bindings/python` in it: setup.py, the
# binding's one build path, with LIBRARY (a built libshmemaphore.so; made
# absolute, since pip runs setup.py in bindings/python; default: setup.py
# builds the library with swift build) copied inside the package.  PIP
# PACKAGES, when given, are pip installed too (e.g. iceoryx2 for the
# benchmark; may need the network).  PYTHON picks the interpreter (python3).
# Prints VENV/bin/python on standard output, everything else on standard error.
# Used by ctest's python-install test (CMakeLists.txt), scripts/test.sh and
# benchmarks/run.sh.
set -eu
if [ $# -lt 1 ]; then
    sed -n '4p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
venv=$1
shift
if [ $# -ge 1 ]; then
    [ -f "$1" ] || { echo "install-venv.sh: $1: no such library" >&2; exit 1; }
    SHMEMAPHORE_LIBRARY="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    export SHMEMAPHORE_LIBRARY
    shift
fi
pip() { "$venv/bin/python" -m pip -q --disable-pip-version-check "$@" >&2; }
[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv" >&2
# --force-reinstall --no-deps: the same version built from a changed tree is
# installed again; numpy and pytest only when the venv cannot import them.
pip install --force-reinstall --no-deps "$here"
"$venv/bin/python" -c "import numpy" 2>/dev/null || pip install numpy
"$venv/bin/python" -c "import pytest" 2>/dev/null || pip install pytest
[ $# -eq 0 ] || pip install "$@"
"$venv/bin/python" -c "import shmemaphore, sys; print('shmemaphore', shmemaphore.version, 'in', sys.prefix, file=sys.stderr)"
echo "$venv/bin/python"
