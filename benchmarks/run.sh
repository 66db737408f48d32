#!/usr/bin/env bash
# benchmarks/run.sh - the one command that measures libshmemaphore and
# regenerates docs/PERFORMANCE.md.
#
#   benchmarks/run.sh [--quick] [--note TEXT] [--no-build] [--iceoryx2] [--no-python] [-- MORE BENCH OPTIONS]
#
#   --quick     the short run (a minute or two) instead of the full one (minutes)
#   --note      a line shown at the top of the document (e.g. "busy machine")
#   --no-build  use the existing build/ instead of running CMake first
#   --iceoryx2  also pip install iceoryx2 into the venv (the iceoryx2-python
#               rows; may need the network); SHMEMAPHORE_BENCH_ICEORYX2=1 too
#   --no-python no venv: the Python rows are left out unless python3 imports shmemaphore
#   after --     passed to `shmemaphore-bench` (e.g. -- --workloads W1 --pin split)
#
# The Python rows (lib-python, lib-python-zc, iceoryx2-python) run in the venv
# build/python-venv, made (or updated) with bindings/python/scripts/install-venv.sh
# from build/lib/libshmemaphore.so and passed as --python; when that fails,
# the rows are left out with the reason.
#
# Steps: CMake build (cmake -S . -B build && cmake --build build), then
#   build/bin/shmemaphore-bench --syscalls --json [--quick] > benchmarks/results/bench.jsonl
# (progress in benchmarks/results/bench.log), then benchmarks/results/machine.json,
# benchmarks/results/bench.svg (chart.py) and docs/PERFORMANCE.md (report.py).
# Needs python3 and, for the system-call counts, strace (apt-get install strace);
# without strace the counts are left out.  Run it on an otherwise idle machine.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

quick=()
note=""
build=1
iceoryx2="${SHMEMAPHORE_BENCH_ICEORYX2:-0}"
python_rows=1
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=(--quick) ;;
        --note) shift; note="${1:-}" ;;
        --no-build) build=0 ;;
        --iceoryx2) iceoryx2=1 ;;
        --no-python) python_rows=0 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$build" = 1 ]; then
    echo "run.sh: building (cmake -S . -B build && cmake --build build)" >&2
    cmake -S . -B build >/dev/null
    cmake --build build >/dev/null
fi

python=()
if [ "$python_rows" = 1 ]; then
    packages=()
    [ "$iceoryx2" = 1 ] && packages=(iceoryx2)
    echo "run.sh: the Python binding into build/python-venv (bindings/python/scripts/install-venv.sh)" >&2
    if venv_python="$(bindings/python/scripts/install-venv.sh build/python-venv build/lib/libshmemaphore.so \
            ${packages[@]+"${packages[@]}"})"; then
        python=(--python "$venv_python")
    else
        echo "run.sh: no venv with the binding: the Python rows are left out" >&2
    fi
fi

syscalls=(--syscalls)
if ! command -v strace >/dev/null; then
    echo "run.sh: strace not found (apt-get install strace): system calls are not counted" >&2
    syscalls=()
fi

results="benchmarks/results"
mkdir -p "$results"
command=(build/bin/shmemaphore-bench "${syscalls[@]}" ${python[@]+"${python[@]}"} --json "${quick[@]}" ${extra[@]+"${extra[@]}"})
echo "run.sh: ${command[*]}" >&2
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date +%s.%N)"
status=0
"${command[@]}" > "$results/bench.jsonl.new" 2> >(tee "$results/bench.log" >&2) || status=$?
finished="$(date +%s.%N)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -s "$results/bench.jsonl.new" ]; then
    echo "run.sh: the benchmark produced no results (exit status $status); see $results/bench.log" >&2
    rm -f "$results/bench.jsonl.new"
    exit 1
fi
mv "$results/bench.jsonl.new" "$results/bench.jsonl"

quick_flag=()
[ ${#quick[@]} -gt 0 ] && quick_flag=(--quick)
python3 benchmarks/report.py machine --note "$note" --command "${command[*]}" \
    --seconds "$(python3 -c "print(round($finished - $started, 1))")" \
    --load-before "$load_before" --load-after "$load_after" "${quick_flag[@]}" > "$results/machine.json"
python3 benchmarks/chart.py "$results/bench.jsonl" -o "$results/bench.svg" --machine "$results/machine.json"
python3 benchmarks/report.py markdown --results "$results/bench.jsonl" --machine "$results/machine.json" \
    --notes benchmarks/notes.md --chart ../benchmarks/results/bench.svg -o docs/PERFORMANCE.md
echo "run.sh: wrote $results/bench.jsonl, $results/bench.svg and docs/PERFORMANCE.md" >&2
exit "$status"
