#!/usr/bin/env python3
"""Write docs/PERFORMANCE.md from the results of `shmemaphore-bench --json`.

    python3 benchmarks/report.py machine [--note TEXT] [--command TEXT] [--seconds S]
                                         [--load-before L] [--load-after L] [--quick]  > machine.json
    python3 benchmarks/report.py markdown --results bench.jsonl --machine machine.json
                                          --notes benchmarks/notes.md --chart PATH -o docs/PERFORMANCE.md

benchmarks/run.sh runs both (the one command that measures and regenerates
the document).  Python 3 standard library only.  Everything in the document
is computed from the results, except the hand-written analysis, which is
benchmarks/notes.md, included as it is.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

# The library with its defaults (adaptive waiting), copy and zero-copy path.
LIB_COPY = ["lib-swift", "lib-c", "lib-mixed"]
LIB_ZERO_COPY = ["lib-swift-zc", "lib-c-zc"]
# The copy path with blocking waits on both sides (every wait sleeps in the
# kernel at once), each the twin of an adaptive implementation: the blocking
# targets compare them with raw, which also blocks.
BLOCKING_TWIN = {"lib-swift": "lib-swift-blocking", "lib-c": "lib-c-blocking"}
LIB_BLOCKING = list(BLOCKING_TWIN.values())
# The adaptive implementations the W1 adaptive targets judge.
LIB_ADAPTIVE = list(BLOCKING_TWIN)
# The copy path with both sides opening for an untrusted peer: every check on
# every turn, payloads received into private memory (the safe view).
LIB_UNTRUSTED = ["lib-swift-untrusted", "lib-c-untrusted"]
LIB_ALL = LIB_COPY + LIB_ZERO_COPY + LIB_BLOCKING + LIB_UNTRUSTED
SWIFT_HOT_PATH = {"lib-swift": "both", "lib-swift-zc": "both", "lib-mixed": "responder", "lib-swift-blocking": "both"}
# The Python binding (benchmarks/python/bench_peer.py on both sides) and
# iceoryx2's Python API doing the same work (benchmarks/python/bench_iceoryx2.py).
# Targets: W1 (copy path) <= 3x lib-c on both placements; W2/W3 zero copy
# >= 0.9x lib-c-zc; lib-python ahead of iceoryx2-python on every row.
PYTHON_COPY, PYTHON_ZERO_COPY, ICEORYX2_PYTHON = "lib-python", "lib-python-zc", "iceoryx2-python"
PYTHON_W1_MAX_VS_C = 3.0
PYTHON_ZC_MIN_VS_C = 0.9
# W1 targets: blocking within 10 % of raw; adaptive within 1 µs across CPUs
# and within 10 % of (blocking) raw when both share a CPU.
W1_BLOCKING_MAX_VS_RAW = 1.10
W1_ADAPTIVE_SPLIT_MAX_US = 1.0
W1_ADAPTIVE_SAME_MAX_VS_RAW = 1.10
# raw with every wait bounded (sem_clockwait, 50 ms slices): the floor of a
# blocking wait that can notice a dead peer.  A second reference for the W1
# lib rows (× raw-timed); × raw stays the one the targets judge.
RAW_TIMED = "raw-timed"

# The figures the issue quotes, measured on a 2-core VM with plain POSIX C.
ISSUE_FIGURES = [
    ("raw W1 median, processes on two CPUs", "12.2 µs", ("W1", "split", "raw", "median_us")),
    ("raw W1 median, both on one CPU", "2.5 µs", ("W1", "same", "raw", "median_us")),
    ("raw W2 throughput", "6.2 GB/s", ("W2", None, "raw", "gbps")),
    ("memcpy + checksum, W2", "7.9 GB/s", ("W2", None, "memcpy", "gbps")),
    ("original C++ implementation, W1", "67 µs", ("W1", "split", "lib-c", "median_us")),
    ("original C++ implementation, W2", "1.7 GB/s", ("W2", None, "lib-c", "gbps")),
]


# ---------------------------------------------------------------------------
# machine
# ---------------------------------------------------------------------------


def read(path, default=""):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return default


def machine(arguments):
    cpuinfo = read("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "unknown")
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    memory = next((line.split(":", 1)[1].strip() for line in read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), "")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        try:
            return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    info = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "hypervisor": "hypervisor" in flags.split(),
        "l3_cache": read("/sys/devices/system/cpu/cpu0/cache/index3/size").strip(),
        "memory": memory,
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "command": arguments.command,
        "seconds": arguments.seconds,
        "load_before": arguments.load_before,
        "load_after": arguments.load_after,
        "note": arguments.note,
        "quick": arguments.quick,
    }
    json.dump(info, sys.stdout, indent=2)
    sys.stdout.write("\n")


# ---------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------


def load_rows(path):
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def num(value, places=None):
    if value is None:
        return "-"
    if places is None:
        places = 1 if abs(value) >= 100 else 2 if abs(value) >= 10 else 3
    return f"{value:,.{places}f}"


def calls(by_type):
    if not by_type:
        return "-"
    return ", ".join(f"{name} {num(count, 2)}" for name, count in sorted(by_type.items(), key=lambda item: (-item[1], item[0])))


class Results:
    def __init__(self, rows):
        self.rows = rows

    def find(self, workload, cpus, impl):
        for row in self.rows:
            if row["workload"] == workload and row["impl"] == impl and (cpus is None or row["cpus"] == cpus or row["cpus"] == "one"):
                if row.get("status") == "ok":
                    return row
        return None

    def vs_raw_timed(self, row):
        """A W1 lib row's latency ÷ raw-timed's (same placement), or None."""
        if row["workload"] != "W1" or not (row["impl"].startswith("lib-") or row["impl"] == RAW_TIMED):
            return None
        timed = self.find("W1", row["cpus"], RAW_TIMED)
        if timed is None or not timed.get("median_us") or row.get("median_us") is None:
            return None
        return row["median_us"] / timed["median_us"]

    def all(self, impl=None, workload=None):
        return [r for r in self.rows if (impl is None or r["impl"] == impl) and (workload is None or r["workload"] == workload) and r.get("status") == "ok"]

    def groups(self):
        seen = []
        for row in self.rows:
            key = (row["workload"], row["cpus"])
            if row["cpus"] == "one" and any(r["workload"] == row["workload"] and r["cpus"] != "one" for r in self.rows):
                continue
            if key not in seen:
                seen.append(key)
        return seen


def placement_text(cpus):
    return {"same": "both processes on one CPU", "split": "processes on two CPUs", "none": "processes not pinned", "one": "one process"}[cpus]


def workload_text(workload):
    return {
        "W1": "W1 ping (8-byte request, 64-byte response)",
        "W2": "W2 image (1920×1080×3 = 6,220,800 bytes)",
        "W3": "W3 4K (3840×2160×4 = 33,177,600 bytes)",
    }.get(workload, workload)


def result_tables(results):
    lines = []
    for workload, cpus in results.groups():
        members = [r for r in results.rows if r["workload"] == workload and r["cpus"] == cpus]
        members += [r for r in results.rows if r["workload"] == workload and r["cpus"] == "one" and cpus != "one"]
        # W1: a × raw-timed column (lib rows) when the run has raw-timed.
        timed = workload == "W1" and results.find("W1", cpus, RAW_TIMED) is not None
        columns = 11 if workload == "W1" else 12
        lines.append(f"### {workload_text(workload)}, {placement_text(cpus)}")
        lines.append("")
        if workload == "W1":
            lines.append("| impl | median µs | p99 µs | round trips/s | range of median µs | × raw | "
                         + ("× raw-timed | " if timed else "") + "× memcpy | syscalls/x | faults/x | allocs/x | csw/x |")
            columns += 1 if timed else 0
        else:
            lines.append("| impl | GB/s | range of GB/s | transfers/s | median ms | p99 ms | × raw | × memcpy | syscalls/x | faults/x | allocs/x | csw/x |")
        lines.append("|" + " --- |" * columns)
        for r in members:
            name = r["impl"] + (" (1 process)" if r["cpus"] == "one" else "")
            if r.get("status") != "ok" and "median_us" not in r:
                lines.append(f"| {name} | failed: {r.get('error', '?')} |" + " |" * (columns - 1))
                continue
            faults = (r.get("minflt_per_exchange") or 0) + (r.get("majflt_per_exchange") or 0)
            common = [num(r.get("vs_raw"))] + ([num(results.vs_raw_timed(r))] if timed else []) + [
                      num(r.get("vs_memcpy")), num(r.get("syscalls_per_exchange"), 2),
                      num(faults, 4), num(r.get("allocs_per_exchange"), 3), num(r.get("csw_per_exchange"), 2)]
            if workload == "W1":
                cells = [name, num(r["median_us"]), num(r["p99_us"]), num(r["per_s"], 0),
                         f"{num(r['median_us_min'])}–{num(r['median_us_max'])}"] + common
            else:
                cells = [name, num(r["gbps"]), f"{num(r['gbps_min'])}–{num(r['gbps_max'])}", num(r["per_s"], 0),
                         num(r["median_us"] / 1000), num(r["p99_us"] / 1000)] + common
            if r.get("status") != "ok":
                cells[0] += f" (failed: {r.get('error', '?')})"
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def syscall_table(results):
    rows = [r for r in results.rows if r.get("syscalls_per_exchange") is not None]
    if not rows:
        return ["No system calls were counted (the run had no `--syscalls`).", ""]
    lines = [
        "| workload | CPUs | impl | total | requester: total; by type | responder: total; by type |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        requester = f"{num(r.get('syscalls_requester'), 2)}; {calls(r.get('syscalls_requester_by_type'))}"
        responder = f"{num(r.get('syscalls_responder'), 2)}; {calls(r.get('syscalls_responder_by_type'))}"
        lines.append(f"| {r['workload']} | {r['cpus']} | {r['impl']} | {num(r['syscalls_per_exchange'], 2)} | {requester} | {responder} |")
    lines.append("")
    return lines


def non_futex(row):
    by_type = row.get("syscalls_by_type") or {}
    return sum(count for name, count in by_type.items() if name != "futex")


def extra_calls(row, raw):
    """System calls per exchange beyond raw's, by type."""
    if not row or not raw or row.get("syscalls_by_type") is None or raw.get("syscalls_by_type") is None:
        return None
    mine, base = row["syscalls_by_type"], raw["syscalls_by_type"]
    extra = {name: mine.get(name, 0) - base.get(name, 0) for name in set(mine) | set(base)}
    extra = {name: value for name, value in extra.items() if name != "futex" and value > 0.005}
    return extra


def targets(results):
    lines = [
        "| target | implementation | measured | met | why |",
        "| --- | --- | --- | --- | --- |",
    ]

    def add(target, impl, measured, met, why):
        lines.append(f"| {target} | {impl} | {measured} | {'met' if met else '**not met**'} | {why} |")

    def versus_raw(gap):
        """A latency gap to raw in words (a noisy run can put a row below raw)."""
        return f"{num(gap)} µs above raw" if gap >= 0 else f"{num(-gap)} µs below raw"

    def above_raw(row, raw):
        """Why a W1 row lies above raw: the gap and the extra system calls."""
        gap = row["median_us"] - raw["median_us"]
        extra = extra_calls(row, raw)
        if extra:
            why = (f"{num(gap)} µs per round trip above raw; the library makes {num(sum(extra.values()), 1)} more system calls "
                   f"per round trip than raw ({calls(extra)})")
            if row["cpus"] == "same":
                why += f", about {num(gap / sum(extra.values()), 2)} µs each here"
            else:
                why += "; across CPUs the wake-up latency, and its noise, dominate both (compare the same-CPU row)"
            return why
        return f"{num(gap)} µs per round trip above raw (run with --syscalls for the breakdown)"

    def futex_calls(row):
        """futex calls per round trip (perf or strace), or None."""
        by_type = row.get("syscalls_by_type")
        return None if by_type is None else by_type.get("futex", 0)

    # W1 latency with blocking waits (lib-*-blocking), <= 1.10 x raw, which
    # blocks too: the library's own overhead, with like compared to like.
    for impl in LIB_BLOCKING:
        for row in results.all(impl=impl, workload="W1"):
            raw = results.find("W1", row["cpus"], "raw")
            ratio = row.get("vs_raw")
            if ratio is None or raw is None:
                continue
            met = ratio <= W1_BLOCKING_MAX_VS_RAW
            why = versus_raw(row["median_us"] - raw["median_us"]) if met else above_raw(row, raw)
            measured = f"{num(row['median_us'])} µs = {num(ratio)}× raw ({num(raw['median_us'])} µs)"
            timed = results.find("W1", row["cpus"], RAW_TIMED)
            if timed:
                measured += f"; {num(results.vs_raw_timed(row))}× raw-timed ({num(timed['median_us'])} µs)"
                if not met and not extra_calls(row, raw):
                    # Same system calls as raw: split the gap into the bounded
                    # wait (raw-timed's own gap) and the library's user-space work.
                    bounded = timed["median_us"] - raw["median_us"]
                    why = (f"{num(row['median_us'] - raw['median_us'])} µs above raw with the same system calls: "
                           f"{num(bounded)} µs is the bounded wait that notices a dead peer (raw-timed), "
                           f"{num(row['median_us'] - timed['median_us'])} µs the library's user-space work in both processes")
            add(f"W1 blocking ≤ {W1_BLOCKING_MAX_VS_RAW:.2f}× raw ({row['cpus']})", impl, measured, met, why)

    # W1 latency with the defaults (adaptive waiting): across CPUs a spinning
    # wait catches the peer's post without a kernel wake-up, <= 1 µs; on one
    # CPU spinning cannot help and must switch itself off, so the round trip
    # stays within 10 % of raw (blocking).
    for impl in LIB_ADAPTIVE:
        twin = BLOCKING_TWIN[impl]
        for row in results.all(impl=impl, workload="W1"):
            raw = results.find("W1", row["cpus"], "raw")
            blocking = results.find("W1", row["cpus"], twin)
            versus = f"{twin} {num(blocking['median_us'])} µs" if blocking else f"no {twin} row"
            if row["cpus"] == "split":
                met = row["median_us"] <= W1_ADAPTIVE_SPLIT_MAX_US
                measured = f"{num(row['median_us'])} µs"
                reference = f"raw (blocking) {num(raw['median_us'])} µs, {versus}" if raw else versus
                futex = futex_calls(row)
                if met:
                    why = reference
                elif futex is None:
                    why = f"{reference} (run with --syscalls for the system calls per round trip)"
                elif futex >= 0.5:
                    why = (f"{reference}; {num(futex, 2)} futex calls per round trip: waits still sleep in the kernel "
                           f"(a wait that catches the post while spinning makes none)")
                else:
                    others = {name: count for name, count in row["syscalls_by_type"].items() if name != "futex"}
                    why = (f"{reference}; the waits spin (futex {num(futex, 2)} per round trip); other system calls per "
                           f"round trip: {calls(others) if others else 'none'}")
                add(f"W1 adaptive ≤ {W1_ADAPTIVE_SPLIT_MAX_US:g} µs (split)", impl, measured, met, why)
            elif row["cpus"] == "same":
                ratio = row.get("vs_raw")
                if ratio is None or raw is None:
                    continue
                met = ratio <= W1_ADAPTIVE_SAME_MAX_VS_RAW
                why = f"{versus_raw(row['median_us'] - raw['median_us'])}; {versus}" if met else f"{above_raw(row, raw)}; {versus}"
                if not met and blocking and row["median_us"] > 1.05 * blocking["median_us"]:
                    why += f": spinning on a shared CPU costs {num(row['median_us'] - blocking['median_us'])} µs per round trip"
                add(f"W1 adaptive ≤ {W1_ADAPTIVE_SAME_MAX_VS_RAW:.2f}× blocking raw (same)", impl,
                    f"{num(row['median_us'])} µs = {num(ratio)}× raw ({num(raw['median_us'])} µs)", met, why)

    # W2/W3 copy path >= 0.95 x raw.
    for workload in ("W2", "W3"):
        for impl in LIB_COPY + LIB_BLOCKING:
            for row in results.all(impl=impl, workload=workload):
                ratio = row.get("vs_raw")
                raw = results.find(workload, row["cpus"], "raw")
                if ratio is None or raw is None:
                    continue
                met = ratio >= 0.95
                spread = f"raw's own range {num(raw['gbps_min'])}–{num(raw['gbps_max'])} GB/s"
                if met:
                    why = spread
                else:
                    why = spread
                    extra = extra_calls(row, raw)
                    gap = 1e6 / row["per_s"] - 1e6 / raw["per_s"]  # mean time per transfer, µs
                    ping = results.find("W1", "same", impl)
                    raw_ping = results.find("W1", "same", "raw")
                    ping_extra = extra_calls(ping, raw_ping) if ping and raw_ping else None
                    if extra and ping_extra and sum(ping_extra.values()) > 0:
                        per_call = (ping["median_us"] - raw_ping["median_us"]) / sum(ping_extra.values())
                        cost = per_call * sum(extra.values())
                        why += (f"; the {num(sum(extra.values()), 1)} extra system calls per transfer cost about {num(cost, 1)} µs "
                                f"(W1 on one CPU) of a {num(gap, 1)} µs gap in the mean time per transfer")
                        if cost < 0.25 * abs(gap):
                            why += ": mostly run-to-run noise (compare the ranges)"
                add(f"{workload} copy path ≥ 0.95× raw", impl, f"{num(row['gbps'])} GB/s = {num(ratio)}× raw", met, why)

    # Zero-copy >= 1.0 x memcpy + checksum.
    for workload in ("W2", "W3"):
        for impl in LIB_ZERO_COPY:
            for row in results.all(impl=impl, workload=workload):
                ratio = row.get("vs_memcpy")
                memcpy = results.find(workload, None, "memcpy")
                if ratio is None or memcpy is None:
                    continue
                met = ratio >= 1.0
                raw_zc = results.find(workload, row["cpus"], "raw-zc")
                floor = f"; raw-zc (the same pattern without the library) reaches {num(raw_zc['gbps'])} GB/s" if raw_zc else ""
                if met:
                    why = f"memcpy + checksum {num(memcpy['gbps'])} GB/s{floor}"
                else:
                    why = (f"memcpy + checksum {num(memcpy['gbps'])} GB/s stays in one CPU's caches; zero-copy writes the payload on "
                           f"one CPU and reads it on another{floor}")
                add(f"{workload} zero-copy ≥ 1.0× memcpy + checksum", impl, f"{num(row['gbps'])} GB/s = {num(ratio)}× memcpy", met, why)

    # Python: W1 <= 3x C, W2/W3 zero copy >= 0.9x C zero copy, ahead of iceoryx2-python.
    def figure(row):
        return f"{num(row['median_us'])} µs" if row["workload"] == "W1" else f"{num(row['gbps'])} GB/s"

    for row in results.all(impl=PYTHON_COPY, workload="W1"):
        c = results.find("W1", row["cpus"], "lib-c")
        if c is None:
            continue
        ratio = row["median_us"] / c["median_us"]
        zc = results.find("W1", row["cpus"], PYTHON_ZERO_COPY)
        why = f"lib-c {num(c['median_us'])} µs"
        if zc:
            why += f"; lib-python-zc {num(zc['median_us'])} µs = {num(zc['median_us'] / c['median_us'])}× lib-c"
        if row["cpus"] == "split" and (row.get("csw_per_exchange") or 0) >= 0.5 > (c.get("csw_per_exchange") or 0):
            why += (f"; the Python waits sleep ({num(row['csw_per_exchange'], 2)} context switches per round trip, "
                    f"lib-c {num(c.get('csw_per_exchange') or 0, 2)}; see the Python notes)")
        elif row["cpus"] == "split" and ratio > PYTHON_W1_MAX_VS_C:
            why += (f"; both sides spin ({num(row.get('csw_per_exchange') or 0, 3)} context switches per round trip): "
                    f"the {num(row['median_us'] - c['median_us'])} µs above lib-c are the interpreter's turns on both "
                    f"sides, about 1.4 µs of them the payload arithmetic alone (see the Python notes)")
        add(f"W1 Python ≤ {PYTHON_W1_MAX_VS_C:g}× C ({row['cpus']})", PYTHON_COPY,
            f"{num(row['median_us'])} µs = {num(ratio)}× lib-c", ratio <= PYTHON_W1_MAX_VS_C, why)
    for workload in ("W2", "W3"):
        for row in results.all(impl=PYTHON_ZERO_COPY, workload=workload):
            c = results.find(workload, row["cpus"], "lib-c-zc")
            if c is None or not c.get("gbps"):
                continue
            ratio = row["gbps"] / c["gbps"]
            copy = results.find(workload, row["cpus"], PYTHON_COPY)
            why = f"lib-c-zc {num(c['gbps'])} GB/s (range {num(c['gbps_min'])}–{num(c['gbps_max'])}); " \
                  f"lib-python-zc's range {num(row['gbps_min'])}–{num(row['gbps_max'])}"
            if copy:
                why += f"; lib-python (copy) {num(copy['gbps'])} GB/s"
            add(f"{workload} Python zero copy ≥ {PYTHON_ZC_MIN_VS_C:g}× C zero copy", PYTHON_ZERO_COPY,
                f"{num(row['gbps'])} GB/s = {num(ratio)}× lib-c-zc", ratio >= PYTHON_ZC_MIN_VS_C, why)
    # The target names lib-python (the copy path); iceoryx2-python loans, so
    # lib-python-zc, the like-for-like row, is judged too.
    for impl in (PYTHON_COPY, PYTHON_ZERO_COPY):
        for row in results.all(impl=ICEORYX2_PYTHON):
            mine = results.find(row["workload"], row["cpus"], impl)
            if mine is None:
                continue
            w1 = row["workload"] == "W1"
            ahead = mine["median_us"] < row["median_us"] if w1 else mine["gbps"] > row["gbps"]
            ratio = row["median_us"] / mine["median_us"] if w1 else mine["gbps"] / row["gbps"]
            why = f"iceoryx2-python {figure(row)}"
            if not ahead and w1 and row["cpus"] == "split" and (mine.get("csw_per_exchange") or 0) >= 0.5:
                why += (f" polling (sched_yield), {num(row.get('csw_per_exchange') or 0, 2)} context switches per round trip; "
                        f"{impl}'s waits sleep ({num(mine['csw_per_exchange'], 2)})")
            elif not ahead and not w1 and impl == PYTHON_COPY:
                why += "; iceoryx2 loans (zero copy), the copy path copies the payload once more"
            add(f"{row['workload']} {impl} ahead of iceoryx2-python ({row['cpus']})", impl,
                f"{figure(mine)}: {num(ratio)}× {'faster' if ahead else 'as fast'}", ahead, why)

    # Steady state: no page faults per exchange.
    for impl in LIB_ALL:
        rows = results.all(impl=impl)
        if not rows:
            continue
        worst = max(rows, key=lambda r: (r.get("minflt_per_exchange") or 0) + (r.get("majflt_per_exchange") or 0))
        faults = (worst.get("minflt_per_exchange") or 0) + (worst.get("majflt_per_exchange") or 0)
        met = faults < 0.001
        why = "none in any steady-state loop" if faults == 0 else f"worst: {worst['workload']} {worst['cpus']}"
        add("no page faults per exchange", impl, f"{num(faults, 4)} per exchange (worst row)", met, why)

    # <= 4 system calls per blocking round trip: the W1 rows of the blocking
    # implementations (and raw, the floor) with both processes on two CPUs,
    # where every wait blocks (perf counts at full speed); with strace counts
    # only, the non-futex calls + 4.  Adaptive rows are not judged here: a
    # wait that catches the post while spinning makes no futex call at all.
    for impl in LIB_BLOCKING + ["raw"]:
        rows = [r for r in results.all(impl=impl) if r.get("syscalls_per_exchange") is not None]
        if not rows:
            continue
        split = [r for r in rows if r["workload"] == "W1" and r["cpus"] == "split"]
        by_type = lambda r: {name: count for name, count in (r.get("syscalls_by_type") or {}).items() if name != "futex"}
        if split and "perf" in split[0].get("syscalls_source", ""):
            row = split[0]
            measured = row["syscalls_per_exchange"]
            futex = (row.get("syscalls_by_type") or {}).get("futex", 0)
            text = f"{num(measured, 2)} (W1, two CPUs: futex {num(futex, 2)}, other {num(measured - futex, 2)})"
        else:
            row = max(rows, key=non_futex)
            measured = non_futex(row) + 4
            text = f"{num(measured, 1)} (non-futex calls under strace + the 4 futex calls of a blocking round trip)"
        met = measured <= 4.05
        others = by_type(row)
        why = "besides futex (a wake and a wait on each side when both block): " + (calls(others) if others else "none")
        add("≤ 4 system calls per blocking round trip", impl, text, met, why)

    # No heap allocation per exchange in the Swift hot path.
    for impl, where in SWIFT_HOT_PATH.items():
        rows = results.all(impl=impl)
        if not rows:
            continue
        key = "allocs_per_exchange" if where == "both" else "allocs_responder"
        values = [r.get(key) for r in rows]
        if any(v is None for v in values):
            add("no heap allocation per exchange (Swift)", impl, "not counted", False, "shmemaphore-bench-malloc-count.so was missing")
            continue
        worst = max(values)
        side = "requester and responder" if where == "both" else "Swift responder"
        add("no heap allocation per exchange (Swift)", impl, f"{num(worst, 4)} per exchange ({side}, worst row)", worst == 0,
            "no malloc/free in any steady-state loop" if worst == 0 else "allocations in the loop")
    lines.append("")
    if results.all(impl=RAW_TIMED, workload="W1"):
        lines += ["× raw-timed (W1 blocking rows): the ratio to `raw-timed`, raw with every wait bounded "
                  "(`sem_clockwait`, 50 ms slices), the floor of a blocking wait that can notice a dead peer; "
                  "the targets judge × raw.", ""]
    return lines


def issue_figures(results):
    lines = [
        "| figure | issue (its 2-core VM) | this run |",
        "| --- | --- | --- |",
    ]
    for label, quoted, (workload, cpus, impl, field) in ISSUE_FIGURES:
        row = results.find(workload, cpus, impl)
        here = "-"
        if row:
            value = row[field]
            here = f"{num(value)} {'µs' if field == 'median_us' else 'GB/s'}"
            if impl.startswith("lib-"):
                here += f" (libshmemaphore, {impl})"
        lines.append(f"| {label} | {quoted} | {here} |")
    lines.append("")
    return lines


METHOD = """\
- **Workloads.** W1: the requester sends its 8-byte sequence number, the
  responder answers with an opaque 64-byte payload; W2: a short name
  (`frame`), answered with a 1920×1080×3 image (6,220,800 bytes); W3: the
  same with 3840×2160×4 (33,177,600 bytes).  Every payload is
  `word[i] = seq × 0x9E3779B97F4A7C15 + i`, so it changes with every exchange;
  the requester sums every 64-bit word and compares the sum with the value it
  computes from the sequence number (a stale or torn payload fails the run).
- **Implementations.** `lib-swift`: `ShmemaphoreServer` ↔ `ShmemaphoreClient`
  (`shmemaphore-bench peer`); `lib-c`: two `shmemaphore-bench-peer`
  (benchmarks/bench_peer.c) through `shmemaphore.h`; `lib-mixed`: C requester,
  Swift responder; `lib-swift-zc`: the Swift responder writes the payload
  straight into `reserve`'s buffer and `commit`s it.  These open their
  channels with the library's defaults, so they wait adaptively (spinning
  briefly before sleeping when that pays).  `lib-swift-blocking` and
  `lib-c-blocking` are `lib-swift` and `lib-c` with both processes opening
  with blocking waits (`WaitStrategy.blocking`,
  `SHMEMAPHORE_FLAG_BLOCKING_WAIT`; the peers' `--wait blocking`): every
  wait sleeps in the kernel at once, as raw's do.  On the copy path the
  responder writes the payload into its own buffer and `send`s it (a memcpy
  into shared memory).  The requester always checksums the payload in place.
  Baselines (benchmarks/bench_baselines.c, no library): `raw`, the
  protocol's floor (the same two named semaphores and HEAD/DATA segments,
  created and mapped once at full size, only `sem_post`/`sem_wait` per
  exchange; the responder copies its payload in like the copy path);
  `raw-timed`, raw with every wait bounded as a wait that must notice a dead
  peer has to be (`sem_clockwait` on `CLOCK_MONOTONIC`, deadline 50 ms after
  the wait starts, re-armed on timeout; the W1 tables' × raw-timed); `uds`, a
  `socketpair`; `pipe`, two pipes (default buffer sizes); `memcpy`, one
  process doing memcpy + checksum of the same payload.  `lib-c-zc` is
  lib-c with the zero-copy responder; `raw-zc` can be added with `--impls`.
- **Python.** `lib-python`: two benchmarks/python/bench_peer.py processes
  through the Python binding (bindings/python): `Server.request` and
  `Client.respond(buffer)` (copy path; the payload is checked in place through
  `r.data` for W1 and the address of `r.to_numpy()` for W2/W3);
  `lib-python-zc`: the responder fills `Client.reserve(n)` /
  `reserve_image(w, h, c)` in place and commits.  `iceoryx2-python`: the same
  work with iceoryx2's Python request-response API (`pip install iceoryx2`,
  benchmarks/python/bench_iceoryx2.py): loaned request and response slices
  (`loan_slice_uninit`), a response user header for the dimensions, polled
  ports (`receive()` in a loop with `sched_yield()`: its request-response
  ports have no blocking receive).  All three fill with the same C kernel
  through ctypes, and check W2/W3 with it; W1's 64-byte check is
  `struct.unpack` + `sum` (the same sum, cheaper from Python than reaching the
  buffer's address; the requester's `kernels` is python).
- **The same payload code everywhere.** The fill and checksum kernels are one
  C file (benchmarks/bench_kernels.c, SSE2), linked into the C programs and
  loaded by the Swift peer, so the comparison is between transports, not
  compilers (the `kernels` field of the JSON says which ran).
- **Processes and timing.** One process per role; the requester times each
  exchange with `CLOCK_MONOTONIC` (round trip including the checksum) into a
  preallocated array.  `same`: both processes pinned to one CPU; `split`:
  to two CPUs (`sched_setaffinity` in each process).  Each row is measured
  `repetitions` times, round-robin across implementations; tables show the
  median of the per-run medians (latency) or rates, and their min–max.
  × raw and × memcpy compare latency for W1 (lower is better) and GB/s for
  W2/W3 (higher is better); GB/s is 10⁹ payload bytes per second.
- **Counters.** Each process samples `getrusage` (page faults, context
  switches) and an `LD_PRELOAD` allocation counter
  (benchmarks/malloc_count.c: every malloc/calloc/realloc/posix_memalign/...)
  right before and after its steady-state loop; the tables show both
  processes' sums per exchange.  System calls (`--syscalls`) come from two
  extra runs per row: one with two perf tracepoint counters in each process
  (`raw_syscalls:sys_enter` and `syscalls:sys_enter_futex`, switched on and
  off around the loop; benchmarks/bench_syscount.c), which gives the totals and
  the futex calls at full speed, and one under `strace -f`, which gives the
  calls by type between two marker calls that bracket the loop.  Under strace
  both processes are much slower, so timing-dependent counts (futex: does a
  `sem_post` find a waiter, does a `sem_wait` block; uds/pipe: how many
  `read`s a payload takes) differ; those come from the perf run where there
  is one.  A blocking round trip costs 4 futex calls (each side one wake and
  one wait); on one CPU the woken process often runs before the waker reaches
  its own wait, which saves two of them.  An adaptive wait that sees the
  peer's post while it spins makes no futex call, and neither does the post
  that finds no sleeper.
"""


def markdown(arguments):
    rows = load_rows(arguments.results)
    info = json.load(open(arguments.machine, encoding="utf-8")) if arguments.machine else {}
    results = Results(rows)
    lines = ["# libshmemaphore performance", ""]
    lines.append("<!-- Generated by benchmarks/report.py from benchmarks/results/ (benchmarks/run.sh); "
                 "edit benchmarks/notes.md or the scripts, not this file. -->")
    lines.append("")
    if info.get("note"):
        lines += [f"> **{info['note']}**", ""]
    lines += [
        "Measured with `shmemaphore-bench` (benchmarks/swift/ and the C programs of",
        "benchmarks/): libshmemaphore from Swift, from C and mixed, on its copy and",
        "zero-copy paths, with its default adaptive waiting and with blocking waits,",
        "against plain-POSIX baselines, in one run.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "benchmarks/run.sh            # build, measure (a few minutes), rewrite this file",
        "benchmarks/run.sh --quick    # the same in under a minute, fewer exchanges and repetitions",
        "```",
        "",
        "`run.sh` builds with CMake (`cmake -S . -B build && cmake --build build`), runs",
        "`build/bin/shmemaphore-bench --syscalls --json` (add `--quick` for the short run;",
        "strace must be installed for `--syscalls`), then writes benchmarks/results/bench.jsonl,",
        "machine.json and bench.svg (benchmarks/chart.py) and this file (benchmarks/report.py).",
        "Run it on an otherwise idle machine: the load average before and after is recorded below.",
        "`shmemaphore-bench --help` lists the options (`--workloads`, `--impls`, `--pin`, ...).",
        "",
        "## Machine and run",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPUs (nproc) | {info.get('nproc', '?')} |",
        f"| CPU model | {info.get('cpu_model', '?')}{' (virtual machine)' if info.get('hypervisor') else ''} |",
        f"| L3 cache | {info.get('l3_cache') or '?'} |",
        f"| memory | {info.get('memory') or '?'} |",
        f"| kernel | {info.get('kernel', '?')} |",
        f"| date | {info.get('date', '?')} |",
        f"| commit | {info.get('commit') or '?'} |",
        f"| command | `{info.get('command', '?')}` |",
        f"| run time | {num(info['seconds'], 1) + ' s' if info.get('seconds') else '?'} |",
        f"| load average (1, 5, 15 min) before / after | {info.get('load_before', '?')} / {info.get('load_after', '?')} |",
        "",
        "## Results",
        "",
        f"![benchmark chart]({arguments.chart})",
        "",
        "Columns: median and p99 of the round trip (W1) or transfer (W2, W3); the range is the",
        "min–max over the repetitions; × raw, × raw-timed (W1, lib rows) and × memcpy as in [Method](#method); syscalls/x:",
        "system calls per exchange in both processes (by type further down); faults/x, allocs/x, csw/x: page",
        "faults, heap allocations and context switches per exchange in both processes' steady-state loops.",
        "",
    ]
    lines += result_tables(results)
    lines += ["## Targets (from the issue)", ""]
    lines += targets(results)
    lines += ["## System calls per exchange, by type", "",
              "Totals and futex calls from the run with perf counters (full speed); the other calls by type",
              "from the run under strace (see [Method](#method)), where timing-dependent counts (the `read`s of",
              "uds and pipe) can differ from the totals.", ""]
    lines += syscall_table(results)
    lines += ["## The issue's reference figures", "",
              "Measured on another 2-core VM; only the ratios compare across machines.", ""]
    lines += issue_figures(results)
    lines += ["## Method", "", METHOD]
    if arguments.notes and os.path.exists(arguments.notes):
        notes = open(arguments.notes, encoding="utf-8").read().strip()
        lines += [notes, ""]
    text = "\n".join(lines).rstrip() + "\n"
    if arguments.output == "-":
        sys.stdout.write(text)
    else:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            handle.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command_name", required=True)
    m = commands.add_parser("machine", help="print the machine and run description as JSON")
    m.add_argument("--note", default="")
    m.add_argument("--command", default="")
    m.add_argument("--seconds", type=float, default=None)
    m.add_argument("--load-before", default="")
    m.add_argument("--load-after", default="")
    m.add_argument("--quick", action="store_true")
    d = commands.add_parser("markdown", help="write the Markdown report")
    d.add_argument("--results", required=True)
    d.add_argument("--machine")
    d.add_argument("--notes")
    d.add_argument("--chart", default="../benchmarks/results/bench.svg")
    d.add_argument("-o", "--output", default="-")
    arguments = parser.parse_args()
    if arguments.command_name == "machine":
        machine(arguments)
    else:
        markdown(arguments)


if __name__ == "__main__":
    main()
