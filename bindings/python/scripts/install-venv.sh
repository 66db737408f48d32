#!/bin/sh
# install-venv.sh - a virtual environment with the binding pip-installed into it.
#
#   bindings/python/scripts/install-venv.sh VENV [LIBRARY]
#
# Creates VENV (python3 -m venv --system-site-packages: numpy and pytest come
# from the system when it has them, else pip fetches them) and runs
# `pip install bindings/python` in it: setup.py, the binding's one build
# path, with LIBRARY (a built libshmemaphore.so; default: setup.py builds
# it with swift build) copied inside the package.  ctest's python-install
# test (CMakeLists.txt) and scripts/test.sh both come here.
# PYTHON names the interpreter (default python3).
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    sed -n '4p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
venv=$1
if [ $# -eq 2 ]; then
    # pip runs setup.py in its own folder: the path must be absolute.
    SHMEMAPHORE_LIBRARY="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
    export SHMEMAPHORE_LIBRARY
fi
rm -rf "$venv"
"$python" -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$here"
"$venv/bin/python" -c "import pytest" 2>/dev/null || "$venv/bin/python" -m pip install -q --disable-pip-version-check pytest
"$venv/bin/python" -c "import shmemaphore; print('installed shmemaphore', shmemaphore.version, 'into', '$venv')"
