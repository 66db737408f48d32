"""bench_common.py - what the Python benchmark peers share: the Python twin of
benchmarks/bench_common.h (workloads, payload kernels, pinning, steady-state
counters, the BENCH result line) for benchmarks/python/bench_peer.py
(lib-python, lib-python-zc) and bench_iceoryx2.py (iceoryx2-python).

The constants are read from benchmarks/bench_constants.h itself (the one
definition: the workload table, BENCH_GOLDEN, the marker paths).

The payload kernels are the C object code of benchmarks/bench_kernels.c in
shmemaphore-bench-support.so (--support), called through ctypes, as the
Swift peer does; without the module, numpy loops (the result line says
kernels=numpy).  For payloads of at most SMALL_PAYLOAD bytes (W1's 64) the
check is struct.unpack + sum (the same wrapping sum) and the payload is made
by Python integer arithmetic (the same words), both cheaper in Python than a
ctypes call and reaching a buffer's address (kernels=python): the shorter a
W1 turn, the likelier the library's adaptive wait keeps spinning across CPUs
(benchmarks/notes.md, "Python").
"""

import argparse
import ctypes
import os
import re
import resource
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONSTANTS = os.path.join(HERE, "..", "bench_constants.h")
MASK = (1 << 64) - 1
SMALL_PAYLOAD = 256
CALL_TIMEOUT = 60.0  # seconds, as BENCH_TIMEOUT_MS of bench_peer.c


class Workload:
    def __init__(self, name, width, height, channels, nbytes, request):
        self.name, self.width, self.height, self.channels = name, width, height, channels
        self.bytes = nbytes
        self.request = request  # bytes, or None: the 8-byte sequence number

    @property
    def request_length(self):
        return 8 if self.request is None else len(self.request)


def _number(text):
    value = 1
    for factor in text.split("*"):
        factor = factor.strip()
        factor = re.sub(r"^UINT64_C\((.*)\)$", r"\1", factor)
        value *= int(re.sub(r"[uUlL]+$", "", factor), 0)
    return value


def read_constants(path=CONSTANTS):
    """(workloads by name, BENCH_GOLDEN, markers) from bench_constants.h."""
    text = open(path, encoding="utf-8").read()
    golden = _number(re.search(r"#define\s+BENCH_GOLDEN\s+(\S+)", text).group(1))
    markers = {key: re.search(r'#define\s+BENCH_MARKER_%s\s+"([^"]*)"' % key.upper(), text).group(1)
               for key in ("begin", "end", "prepare")}
    table = re.search(r"bench_workloads\[\]\s*=\s*\{(.*?)\};", text, re.S).group(1)
    workloads = {}
    for entry in re.finditer(r'\{\s*"(\w+)"\s*,([^,]+),([^,]+),([^,]+),([^,]+),\s*(NULL|"[^"]*")\s*\}', table):
        name = entry.group(1)
        width, height, channels, nbytes = (_number(entry.group(i)) for i in range(2, 6))
        request = None if entry.group(6) == "NULL" else entry.group(6)[1:-1].encode()
        workloads[name] = Workload(name, width, height, channels, nbytes, request)
    if not workloads:
        raise SystemExit(f"{path}: no workload table")
    return workloads, golden, markers


WORKLOADS, GOLDEN, MARKERS = read_constants()


def expected_sum(nbytes, seq):
    n = nbytes // 8
    return (n * ((seq * GOLDEN) & MASK) + n * (n - 1) // 2) & MASK


def expected_sums(nbytes):
    """(expected_sum(nbytes, 0), step): the sum for sequence number seq + 1
    is the one for seq plus step (wrapping), so a loop adds once per
    exchange instead of multiplying."""
    first = expected_sum(nbytes, 0)
    return first, (expected_sum(nbytes, 1) - first) & MASK


def die(message):
    sys.stderr.write(f"{os.path.basename(sys.argv[0])}: {message}\n")
    sys.stderr.flush()
    os._exit(1)


# ---------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------


class Kernels:
    """fill(address, nbytes, seq) and sum(address, nbytes): the shared C
    kernels through ctypes, or numpy equivalents."""

    def __init__(self, support):
        self.module = None
        if support and os.path.exists(support):
            self.module = ctypes.CDLL(support)
            fill = self.module.shmemaphore_bench_fill
            fill.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64]
            fill.restype = None
            total = self.module.shmemaphore_bench_sum
            total.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
            total.restype = ctypes.c_uint64
            self.fill, self.sum, self.origin = fill, total, "c"
        else:
            import numpy as np

            self.np = np

            def fill(address, nbytes, seq):
                n = nbytes // 8
                words = np.ctypeslib.as_array((ctypes.c_uint64 * n).from_address(address))
                np.add(np.arange(n, dtype=np.uint64), np.uint64((seq * GOLDEN) & MASK), out=words)

            def total(address, nbytes):
                n = nbytes // 8
                return int(np.ctypeslib.as_array((ctypes.c_uint64 * n).from_address(address)).sum(dtype=np.uint64))

            self.fill, self.sum, self.origin = fill, total, "numpy"

    def small_maker(self, nbytes):
        """The payload of a small workload as bytes, made by Python integer
        arithmetic (word i = base + i is the 64-bit digit i of base * R + I
        while base + i does not wrap); None when it wraps (use the kernel)."""
        count = nbytes // 8
        repunit = sum(1 << (64 * i) for i in range(count))
        offsets = sum(i << (64 * i) for i in range(count))
        limit = MASK - (count - 1)

        def small(seq):
            base = (seq * GOLDEN) & MASK
            return (base * repunit + offsets).to_bytes(nbytes, "little") if base <= limit else None

        return small

    def small_summer(self, nbytes):
        """A sum for small payloads given as buffers: struct.unpack + sum."""
        unpack = struct.Struct("<%dQ" % (nbytes // 8)).unpack

        def small(buffer):
            return sum(unpack(buffer)) & MASK

        return small


# ---------------------------------------------------------------------------
# Counters, markers, result line
# ---------------------------------------------------------------------------


class Counters:
    """rusage, the LD_PRELOADed malloc counter, perf system-call counters."""

    def __init__(self, support_module, count_syscalls):
        self.malloc = None
        try:
            self.malloc = (ctypes.c_uint64 * 2).in_dll(ctypes.CDLL(None), "shmemaphore_bench_malloc_counters")
        except ValueError:
            pass
        self.syscount = None
        if count_syscalls:
            if support_module is None:
                die("--count-syscalls needs shmemaphore-bench-support.so (--support)")
            self.syscount = support_module
            self.syscount.shmemaphore_bench_syscount_read.argtypes = [ctypes.POINTER(ctypes.c_uint64)] * 2

    def take(self):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        allocations = (self.malloc[0], self.malloc[1]) if self.malloc else None
        return [usage, allocations, None]

    def prepare(self):
        self.take()
        os.access(MARKERS["prepare"], os.F_OK)

    def begin(self):
        self.take()
        os.access(MARKERS["prepare"], os.F_OK)
        time.perf_counter_ns()
        if self.syscount is not None:
            status = self.syscount.shmemaphore_bench_syscount_open()
            if status != 0:
                die(f"--count-syscalls: cannot open perf tracepoint counters: {os.strerror(-status)}")
        sample = self.take()
        os.access(MARKERS["begin"], os.F_OK)
        if self.syscount is not None:
            self.syscount.shmemaphore_bench_syscount_enable()
        return sample

    def end(self):
        if self.syscount is not None:
            self.syscount.shmemaphore_bench_syscount_disable()
        os.access(MARKERS["end"], os.F_OK)
        sample = self.take()
        if self.syscount is not None:
            total, futex = ctypes.c_uint64(), ctypes.c_uint64()
            if self.syscount.shmemaphore_bench_syscount_read(ctypes.byref(total), ctypes.byref(futex)) == 0:
                sample[2] = (total.value, futex.value)
        return sample


def report(role, impl, workload, count, cpu, elapsed, latencies, before, after, kernels):
    """Prints the BENCH result line (the format of bench_common.h's bench_report)."""
    parts = [f"BENCH role={role} impl={impl} workload={workload.name} pid={os.getpid()} cpu={cpu} count={count} "
             f"payload={workload.bytes} elapsed_ns={elapsed}"]
    if latencies:
        latencies.sort()
        p99 = (count * 99 + 99) // 100 - 1
        parts.append(f"min_ns={latencies[0]} median_ns={latencies[(count - 1) // 2]} p99_ns={latencies[p99]} "
                     f"max_ns={latencies[-1]}")
    u0, u1 = before[0], after[0]
    parts.append(f"minflt={u1.ru_minflt - u0.ru_minflt} majflt={u1.ru_majflt - u0.ru_majflt} "
                 f"nvcsw={u1.ru_nvcsw - u0.ru_nvcsw} nivcsw={u1.ru_nivcsw - u0.ru_nivcsw}")
    if before[1] is not None:
        parts.append(f"allocs={after[1][0] - before[1][0]} frees={after[1][1] - before[1][1]}")
    if after[2] is not None:
        parts.append(f"syscalls={after[2][0]} futex={after[2][1]}")
    parts.append(f"kernels={kernels}")
    sys.stdout.write(" ".join(parts) + "\n")
    sys.stdout.flush()


def pin(cpu):
    if cpu >= 0:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as error:
            die(f"sched_setaffinity(cpu {cpu}): {error.strerror}")


def parser(description):
    """The command line of bench_peer.c (and --support, as the Swift peer's)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--role", required=True, choices=["requester", "responder"])
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--channel", required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--cpu", type=int, default=-1)
    p.add_argument("--zero-copy", action="store_true")
    p.add_argument("--wait", choices=["adaptive", "blocking"], default="adaptive")
    p.add_argument("--untrusted-peer", action="store_true")
    p.add_argument("--impl", default="lib-python")
    p.add_argument("--count-syscalls", action="store_true")
    p.add_argument("--support", help="shmemaphore-bench-support.so: the payload kernels (and system-call counters)")
    return p


def parse(description, argv=None):
    arguments = parser(description).parse_args(argv)
    if arguments.count < 1 or arguments.warmup < 0:
        die("--count must be at least 1 and --warmup at least 0")
    arguments.workload = WORKLOADS[arguments.workload]
    return arguments
