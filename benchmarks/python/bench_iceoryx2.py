#!/usr/bin/env python3
"""bench_iceoryx2.py - one side of an iceoryx2-python benchmark run: the
W1/W2/W3 work of bench_peer.py done with iceoryx2's Python request-response
API (pip install iceoryx2; a benchmark-only dependency), with zero-copy loans.

    python3 benchmarks/python/bench_iceoryx2.py --role requester|responder --workload W1|W2|W3
        --channel NAME [--count N] [--warmup M] [--cpu K] [--impl LABEL]
        [--count-syscalls] [--support shmemaphore-bench-support.so]

The command line and BENCH result line of benchmarks/bench_peer.c (--wait,
--zero-copy and --untrusted-peer are accepted and ignored: iceoryx2 always
loans, and its request-response ports have no blocking receive).

  requester  an iceoryx2 Client on the request-response service
             "shmemaphore-bench/NAME" (request: Slice[c_uint8], response:
             Slice[c_uint8] with a response user header of width, height,
             channels): loans each request (the 8-byte sequence number, or
             the workload's short name), sends it, polls the pending
             response, checks the header (bytes and the image's
             dimensions) and the checksum of every payload word in place
             (the shared C kernel at payload_ptr), timing the round trip.
  responder  an iceoryx2 Server: polls for the request, checks it, loans the
             response slice (loan_slice_uninit), lets the shared C kernel
             write the payload into it, sets the header, sends it.

Waiting: iceoryx2's request-response ports are polled (receive() returns
None when nothing has arrived); each empty poll calls sched_yield(), so
that with both processes on one CPU the peer runs at once, and across CPUs
the poll spins.  (Blocking would take iceoryx2's event service, a second
service and its system calls per exchange.)

Exit status 0, or 1 with a message on stderr.
"""

import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as common  # noqa: E402

try:
    import iceoryx2 as iox2
except ImportError as error:  # the driver checks this before it starts a run
    common.die(f"cannot import iceoryx2 (pip install iceoryx2): {error}")


class Metadata(ctypes.Structure):
    """The response user header: the image's dimensions (0, 0, 0 for bytes)."""

    _fields_ = [("width", ctypes.c_uint64), ("height", ctypes.c_uint64), ("channels", ctypes.c_uint64)]


ATTACH_TIMEOUT_NS = 30 * 10**9
TIMEOUT_NS = int(common.CALL_TIMEOUT * 1e9)


def open_service(a):
    iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    service = (
        node.service_builder(iox2.ServiceName.new(f"shmemaphore-bench/{a.channel}"))
        .request_response(iox2.Slice[ctypes.c_uint8], iox2.Slice[ctypes.c_uint8])
        .response_header(Metadata)
        .open_or_create()
    )
    return node, service


def wait_until(condition, timeout_ns, what):
    deadline = time.perf_counter_ns() + timeout_ns
    while not condition():
        if time.perf_counter_ns() > deadline:
            common.die(f"no {what} within {timeout_ns / 1e9:.0f} s")
        time.sleep(0.001)


def run_requester(a, kernels, counters):
    w = a.workload
    node, service = open_service(a)
    client = service.client_builder().initial_max_slice_len(w.request_length).create()
    wait_until(lambda: service.dynamic_config.number_of_servers > 0, ATTACH_TIMEOUT_NS, "iceoryx2 server")
    count, warmup = a.count, a.warmup
    total = count + warmup
    latencies = [0] * count
    now = time.perf_counter_ns
    yield_cpu = os.sched_yield
    memmove, string_at = ctypes.memmove, ctypes.string_at
    loan = client.loan_slice_uninit
    expected_header = bytes(Metadata(w.width, w.height, w.channels))
    header_size = len(expected_header)
    nbytes, length, fixed = w.bytes, w.request_length, w.request
    small = kernels.small_summer(nbytes) if nbytes <= common.SMALL_PAYLOAD else None
    big_sum = kernels.sum
    mask = common.MASK
    want, step = common.expected_sums(w.bytes)  # want + step: the next exchange's expected sum
    before = None
    started = 0
    for i in range(total):
        seq = i + 1
        if i == warmup:
            before = counters.begin()
            started = now()
        message = fixed if fixed is not None else seq.to_bytes(8, "little")
        t0 = now()
        request = loan(length)
        memmove(request.payload_ptr, message, length)
        pending = request.assume_init().send()
        response = pending.receive()
        if response is None:
            deadline = t0 + TIMEOUT_NS
            while response is None:
                yield_cpu()
                response = pending.receive()
                if response is None and now() > deadline:
                    common.die(f"exchange {seq}: no response within {common.CALL_TIMEOUT:.0f} s")
        received = response.header.number_of_elements
        if received != nbytes or string_at(response.user_header_ptr, header_size) != expected_header:
            got = Metadata.from_buffer_copy(string_at(response.user_header_ptr, header_size))
            common.die(f"exchange {seq}: response {received} bytes {got.width}x{got.height}x{got.channels}, "
                       f"expected {nbytes} bytes {w.width}x{w.height}x{w.channels}")
        address = response.payload_ptr
        total_sum = small(string_at(address, nbytes)) if small is not None else big_sum(address, nbytes)
        want = (want + step) & mask
        if total_sum != want:
            common.die(f"exchange {seq}: payload checksum {total_sum:016x}, expected {want:016x}")
        response.delete()
        pending.delete()
        t1 = now()
        if i >= warmup:
            latencies[i - warmup] = t1 - t0
    elapsed = now() - started
    after = counters.end()
    client.delete()
    kind = "python" if small is not None else kernels.origin
    common.report("requester", a.impl, w, count, a.cpu, elapsed, latencies, before, after, kind)
    del service, node


def run_responder(a, kernels, counters):
    w = a.workload
    node, service = open_service(a)
    server = (
        service.server_builder()
        .initial_max_slice_len(w.bytes)
        .allocation_strategy(iox2.AllocationStrategy.Static)
        .create()
    )
    count, warmup = a.count, a.warmup
    total = count + warmup
    now = time.perf_counter_ns
    yield_cpu = os.sched_yield
    memmove, string_at = ctypes.memmove, ctypes.string_at
    receive = server.receive
    fill = kernels.fill
    header = Metadata(w.width, w.height, w.channels)
    header_size = ctypes.sizeof(header)
    header_address = ctypes.addressof(header)
    nbytes, length, fixed = w.bytes, w.request_length, w.request
    before = None
    started = 0
    attach_deadline = now() + ATTACH_TIMEOUT_NS
    for i in range(total):
        seq = i + 1
        if i == warmup:
            before = counters.begin()
            started = now()
        active = receive()
        if active is None:
            deadline = attach_deadline if i == 0 else now() + TIMEOUT_NS
            while active is None:
                yield_cpu()
                active = receive()
                if active is None and now() > deadline:
                    common.die(f"exchange {seq}: no request in time")
        got = active.header.number_of_elements
        if got != length:
            common.die(f"exchange {seq}: request of {got} bytes, expected {length}")
        req = string_at(active.payload_ptr, length)
        if fixed is None:
            sent = int.from_bytes(req, "little")
            if sent != seq:
                common.die(f"exchange {seq}: request carries sequence number {sent}")
        elif req != fixed:
            common.die(f"exchange {seq}: request {req!r}, expected {fixed!r}")
        response = active.loan_slice_uninit(nbytes)
        fill(response.payload_ptr, nbytes, seq)
        memmove(response.user_header_ptr, header_address, header_size)
        response.assume_init().send()
        active.delete()
    elapsed = now() - started
    after = counters.end()
    # The last response lives in this server's data segment: stay until the
    # requester has let go of the service.
    wait_until(lambda: service.dynamic_config.number_of_clients == 0, 10 * 10**9, "end of the iceoryx2 client")
    server.delete()
    common.report("responder", a.impl, w, count, a.cpu, elapsed, None, before, after, kernels.origin)
    del service, node


def main():
    a = common.parse("One side of an iceoryx2-python benchmark run (the command line of bench_peer.c).")
    common.pin(a.cpu)
    kernels = common.Kernels(a.support)
    counters = common.Counters(kernels.module, a.count_syscalls)
    counters.prepare()
    if a.role == "requester":
        run_requester(a, kernels, counters)
    else:
        run_responder(a, kernels, counters)


if __name__ == "__main__":
    main()
