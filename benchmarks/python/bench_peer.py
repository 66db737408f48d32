#!/usr/bin/env python3
"""bench_peer.py - one side of a lib-python / lib-python-zc benchmark run,
through the Python binding (bindings/python, import name `shmemaphore`).

    python3 benchmarks/python/bench_peer.py --role requester|responder --workload W1|W2|W3
        --channel NAME [--count N] [--warmup M] [--cpu K] [--zero-copy]
        [--wait adaptive|blocking] [--untrusted-peer] [--impl LABEL]
        [--count-syscalls] [--support shmemaphore-bench-support.so]

The command line and the BENCH result line of benchmarks/bench_peer.c, so
that `shmemaphore-bench` starts it like the C peer (with --python PATH):

  requester  shmemaphore.Server: sends warmup + count requests (W1: the
             8-byte sequence number; W2/W3: the workload's short name),
             times each round trip, checks the response's metadata and the
             checksum of every payload word in place (r.data for W1, the
             address of r.to_numpy() given to the shared C kernel for W2/W3).
  responder  shmemaphore.Client: answers with the payload for that sequence
             number, written by the shared C kernel into its own buffer and
             sent with client.respond(buffer) / respond_image(array) (copy
             path), or with --zero-copy written straight into
             client.reserve(n) / client.reserve_image(w, h, c) and
             committed.  W1's 64 bytes are made by Python integer
             arithmetic instead (cheaper than a ctypes call; the same
             words), sent as bytes or stored into the reserved buffer.

Exit status 0, or 1 with a message on stderr.
"""

import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as common  # noqa: E402

try:
    import numpy as np
    import shmemaphore
except ImportError as error:  # the driver checks this before it starts a run
    common.die(f"cannot import the Python binding: {error}")


def run_requester(a, kernels, counters):
    w = a.workload
    server = shmemaphore.Server(a.channel, wait=a.wait, untrusted_peer=a.untrusted_peer)
    count, warmup = a.count, a.warmup
    total = count + warmup
    latencies = [0] * count
    now = time.perf_counter_ns
    request = server.request
    expected = (w.bytes, w.width, w.height, w.channels)
    small = kernels.small_summer(w.bytes) if w.bytes <= common.SMALL_PAYLOAD else None
    big_sum = kernels.sum
    mask = common.MASK
    want, step = common.expected_sums(w.bytes)  # want + step: the next exchange's expected sum
    fixed = w.request
    timeout = common.CALL_TIMEOUT
    before = None
    started = 0
    for i in range(total):
        seq = i + 1
        if i == warmup:
            before = counters.begin()
            started = now()
        message = fixed if fixed is not None else seq.to_bytes(8, "little")
        t0 = now()
        r = request(message, timeout)
        if (r.nbytes, r.width, r.height, r.channels) != expected:
            common.die(f"exchange {seq}: response {r.nbytes} bytes {r.width}x{r.height}x{r.channels}, "
                       f"expected {w.bytes} bytes {w.width}x{w.height}x{w.channels}")
        if small is not None:
            total_sum = small(r.data)
        else:
            array = r.to_numpy()
            total_sum = big_sum(array.ctypes.data, w.bytes)
            del array
        want = (want + step) & mask
        if total_sum != want:
            common.die(f"exchange {seq}: payload checksum {total_sum:016x}, expected {want:016x}")
        t1 = now()
        if i >= warmup:
            latencies[i - warmup] = t1 - t0
        del r
    elapsed = now() - started
    after = counters.end()
    server.close()
    kind = "python" if small is not None else kernels.origin
    common.report("requester", a.impl, w, count, a.cpu, elapsed, latencies, before, after, kind)


def run_responder(a, kernels, counters):
    w = a.workload
    client = shmemaphore.Client(a.channel, attach_timeout=30.0, wait=a.wait, untrusted_peer=a.untrusted_peer)
    count, warmup = a.count, a.warmup
    total = count + warmup
    now = time.perf_counter_ns
    fill = kernels.fill
    nbytes = w.bytes
    small = kernels.small_maker(nbytes) if nbytes <= common.SMALL_PAYLOAD else None
    image = w.width != 0
    if a.zero_copy:
        own = own_address = None
        if image:
            reserve, reserve_args = client.reserve_image, (w.width, w.height, w.channels)
        else:
            reserve, reserve_args = client.reserve, (nbytes,)
    else:
        own = np.zeros((w.height, w.width, w.channels) if image else nbytes, dtype=np.uint8)
        own_address = own.ctypes.data
        respond = client.respond_image if image else client.respond
    receive = client.receive
    request_length = w.request_length
    fixed = w.request
    timeout = common.CALL_TIMEOUT
    address_of = ctypes.addressof
    char_from = ctypes.c_char.from_buffer
    before = None
    started = 0
    for i in range(total):
        seq = i + 1
        if i == warmup:
            before = counters.begin()
            started = now()
        req = receive(timeout)
        if len(req) != request_length:
            common.die(f"exchange {seq}: request of {len(req)} bytes, expected {request_length}")
        if fixed is None:
            sent = int.from_bytes(req, "little")
            if sent != seq:
                common.die(f"exchange {seq}: request carries sequence number {sent}")
        payload = small(seq) if small is not None else None
        if own is None:
            reservation = reserve(*reserve_args)
            if payload is not None:
                reservation.buffer[:] = payload  # W1: 64 bytes stored straight into shared memory
            else:
                view = char_from(reservation.buffer)
                fill(address_of(view), nbytes, seq)
                del view
            reservation.commit()
        elif payload is not None:
            respond(payload)
        else:
            fill(own_address, nbytes, seq)
            respond(own)
    elapsed = now() - started
    after = counters.end()
    client.close()
    kind = "python" if small is not None else kernels.origin
    common.report("responder", a.impl, w, count, a.cpu, elapsed, None, before, after, kind)


def main():
    a = common.parse("One side of a lib-python benchmark run (the command line of bench_peer.c).")
    common.pin(a.cpu)
    kernels = common.Kernels(a.support)
    counters = common.Counters(kernels.module, a.count_syscalls)
    counters.prepare()
    try:
        if a.role == "requester":
            run_requester(a, kernels, counters)
        else:
            run_responder(a, kernels, counters)
    except shmemaphore.Error as error:
        common.die(f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
