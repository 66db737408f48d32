#!/bin/sh
# install-venv.sh - a venv with the Python binding installed from this tree.
#
#   bindings/python/scripts/install-venv.sh VENV LIBRARY [PIP PACKAGES...]
#
# Creates VENV (python3 -m venv --system-site-packages: numpy from the system
# when it has it) unless it exists, then `pip install bindings/python` with
# SHMEMAPHORE_LIBRARY=LIBRARY (a built libshmemaphore.so, made absolute: pip
# runs setup.py in bindings/python), so that no Swift build runs; PIP
# PACKAGES, when given, are pip installed too (e.g. iceoryx2; may need the
# network).  PYTHON picks the interpreter (python3).  Prints VENV/bin/python.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: install-venv.sh VENV LIBRARY [PIP PACKAGES...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$1
library=$2
shift 2
[ -f "$library" ] || { echo "install-venv.sh: $library: no such library" >&2; exit 1; }
SHMEMAPHORE_LIBRARY="$(cd "$(dirname "$library")" && pwd)/$(basename "$library")"
export SHMEMAPHORE_LIBRARY
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q "$here"
[ $# -eq 0 ] || "$venv/bin/python" -m pip install -q "$@"
"$venv/bin/python" -c "import shmemaphore" >&2
echo "$venv/bin/python"
