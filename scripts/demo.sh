#!/usr/bin/env bash
# The main job for a new user: installs what is missing, builds
# libshmemaphore, the `shmemaphore` tool and the C examples with CMake, then
# runs `shmemaphore demo`: it makes a few images, runs a Swift server against
# the C client and a C server against the Swift client, and shows what went
# where.  Received images land in ./shmemaphore-demo (or the folder given).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$PWD/shmemaphore-demo}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j "$(nproc)"
exec "$root/build/bin/shmemaphore" demo --dir "$out"
