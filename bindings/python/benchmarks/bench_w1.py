#!/usr/bin/env python3
"""W1 round trip between two Python processes: an 8-byte request, a 64-byte
raw-bytes response (docs/PERFORMANCE.md's W1), through one of three FFIs:

  ext     the package's CPython C extension (shmemaphore)
  ctypes  ctypes over libshmemaphore.so.1
  cffi    cffi in ABI mode (ffi.dlopen), and cffi-api: cffi's compiled API mode

    python3 benchmarks/bench_w1.py [--ffi ext,ctypes,cffi,cffi-api] [--cpus same,split] [--n 20000]
                                   [--library PATH] [--c-pair PATH]

Prints one line per FFI and placement: the median of per-batch means (µs per
round trip) and the min-max over batches.  Both processes do what a user's
would: the server gets a response object (ext: a Response; others: the
struct), the client copies the request into bytes and answers with bytes.
With --c-pair (the compiled c_w1.c), the C<->C figure is measured the same way.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REQ = b"12345678"
PAYLOAD = bytes(range(64))
BATCH = 1000


def library_path(args):
    if args.library:
        return args.library
    import shmemaphore

    return os.path.join(os.path.dirname(shmemaphore.__file__), "libshmemaphore.so.1")


# --- ext ------------------------------------------------------------------
def ext_server(name):
    import shmemaphore

    s = shmemaphore.Server(name)

    def rt():
        r = s.request(REQ, timeout=10.0)
        return r.nbytes

    return s.close, rt


def ext_client(name, n):
    import shmemaphore

    with shmemaphore.Client(name, attach_timeout=10.0) as c:
        receive, respond = c.receive, c.respond
        for _ in range(n):
            receive(10.0)
            respond(PAYLOAD)


# --- ctypes ---------------------------------------------------------------
def ctypes_lib(path):
    import ctypes as C

    lib = C.CDLL(path)

    class Meta(C.Structure):
        _fields_ = [("bytes", C.c_uint64), ("width", C.c_uint64), ("height", C.c_uint64), ("channels", C.c_uint64)]

    class Resp(C.Structure):
        _fields_ = [("metadata", Meta), ("kind", C.c_uint32), ("reserved", C.c_uint32),
                    ("error_code", C.c_uint64), ("data", C.c_void_p)]

    P = C.c_void_p
    lib.shmemaphore_server_open.argtypes = [C.c_char_p, P, C.POINTER(P)]
    lib.shmemaphore_client_open.argtypes = [C.c_char_p, P, C.POINTER(P)]
    lib.shmemaphore_close.argtypes = [P]
    lib.shmemaphore_close.restype = None
    lib.shmemaphore_request.argtypes = [P, C.c_char_p, C.c_uint64, C.c_int64, C.POINTER(Resp)]
    lib.shmemaphore_receive_request.argtypes = [P, C.c_int64, C.POINTER(P), C.POINTER(C.c_uint64)]
    lib.shmemaphore_send_response.argtypes = [P, C.POINTER(Meta), C.c_char_p]
    return C, lib, Meta, Resp


def ctypes_server(name, path):
    C, lib, Meta, Resp = ctypes_lib(path)
    ch = C.c_void_p()
    assert lib.shmemaphore_server_open(name.encode(), None, C.byref(ch)) == 0
    resp = Resp()
    req, n, out = REQ, len(REQ), C.byref(resp)
    f = lib.shmemaphore_request

    def rt():
        assert f(ch, req, n, 10000, out) == 0
        return resp.metadata.bytes

    return (lambda: lib.shmemaphore_close(ch)), rt


def ctypes_client(name, n, path):
    C, lib, Meta, Resp = ctypes_lib(path)
    ch = C.c_void_p()
    opts = None
    deadline = time.monotonic() + 10
    while lib.shmemaphore_client_open(name.encode(), opts, C.byref(ch)) != 0:
        assert time.monotonic() < deadline
    meta = Meta(len(PAYLOAD), 0, 0, 0)
    ptr, length = C.c_void_p(), C.c_uint64()
    rr, sr, string_at = lib.shmemaphore_receive_request, lib.shmemaphore_send_response, C.string_at
    bp, bl, bm = C.byref(ptr), C.byref(length), C.byref(meta)
    for _ in range(n):
        assert rr(ch, 10000, bp, bl) == 0
        string_at(ptr.value, length.value)
        assert sr(ch, bm, PAYLOAD) == 0
    lib.shmemaphore_close(ch)


# --- cffi -----------------------------------------------------------------
CDEF = """
typedef struct shmemaphore_channel shmemaphore_channel;
typedef struct { uint64_t bytes, width, height, channels; } shmemaphore_metadata;
typedef struct { shmemaphore_metadata metadata; uint32_t kind; uint32_t reserved; uint64_t error_code;
                 const uint8_t *data; } shmemaphore_response;
int shmemaphore_server_open(const char *, const void *, shmemaphore_channel **);
int shmemaphore_client_open(const char *, const void *, shmemaphore_channel **);
void shmemaphore_close(shmemaphore_channel *);
int shmemaphore_request(shmemaphore_channel *, const void *, uint64_t, int64_t, shmemaphore_response *);
int shmemaphore_receive_request(shmemaphore_channel *, int64_t, const uint8_t **, uint64_t *);
int shmemaphore_send_response(shmemaphore_channel *, const shmemaphore_metadata *, const void *);
"""


def cffi_lib(path, api):
    if not api:
        import cffi

        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        return ffi, ffi.dlopen(path)
    sys.path.insert(0, api)
    import _bench_cffi  # built by build_cffi_api()

    return _bench_cffi.ffi, _bench_cffi.lib


def build_cffi_api(path, folder):
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    libdir = os.path.dirname(os.path.abspath(path))
    ffi.set_source("_bench_cffi", "#include <stdint.h>\n" + CDEF.replace("typedef struct shmemaphore_channel shmemaphore_channel;", "typedef struct shmemaphore_channel shmemaphore_channel;"),
                   extra_link_args=[f"-L{libdir}", "-l:libshmemaphore.so.1", f"-Wl,-rpath,{libdir}"])
    ffi.compile(tmpdir=folder, verbose=False)


def cffi_server(name, path, api):
    ffi, lib = cffi_lib(path, api)
    chp = ffi.new("shmemaphore_channel **")
    assert lib.shmemaphore_server_open(name.encode(), ffi.NULL, chp) == 0
    ch = chp[0]
    resp = ffi.new("shmemaphore_response *")
    f = lib.shmemaphore_request
    req, n = REQ, len(REQ)

    def rt():
        assert f(ch, req, n, 10000, resp) == 0
        return resp.metadata.bytes

    return (lambda: lib.shmemaphore_close(ch)), rt


def cffi_client(name, n, path, api):
    ffi, lib = cffi_lib(path, api)
    chp = ffi.new("shmemaphore_channel **")
    deadline = time.monotonic() + 10
    while lib.shmemaphore_client_open(name.encode(), ffi.NULL, chp) != 0:
        assert time.monotonic() < deadline
    ch = chp[0]
    meta = ffi.new("shmemaphore_metadata *", {"bytes": len(PAYLOAD)})
    ptr = ffi.new("const uint8_t **")
    length = ffi.new("uint64_t *")
    rr, sr, buffer = lib.shmemaphore_receive_request, lib.shmemaphore_send_response, ffi.buffer
    for _ in range(n):
        assert rr(ch, 10000, ptr, length) == 0
        buffer(ptr[0], length[0])[:]
        assert sr(ch, meta, PAYLOAD) == 0
    lib.shmemaphore_close(ch)


def run_client(ffi, name, n, path, api):
    if ffi == "ext":
        ext_client(name, n)
    elif ffi == "ctypes":
        ctypes_client(name, n, path)
    else:
        cffi_client(name, n, path, api)


def measure(args, ffi, cpus, path, api):
    name = f"pytest-bench-{os.getpid()}-{ffi}-{cpus}"
    total = args.n + BATCH  # one warm-up batch
    server_cpu, client_cpu = (0, 0) if cpus == "same" else (0, 1)
    os.sched_setaffinity(0, {server_cpu})
    if ffi == "ext":
        close, rt = ext_server(name)
    elif ffi == "ctypes":
        close, rt = ctypes_server(name, path)
    else:
        close, rt = cffi_server(name, path, api)
    child = subprocess.Popen([sys.executable, __file__, "--child", ffi, "--name", name, "--n", str(total),
                              "--library", path, "--cpu", str(client_cpu)] + (["--api", api] if api else []))
    try:
        means = []
        clock = time.perf_counter
        for b in range(total // BATCH):
            t0 = clock()
            for _ in range(BATCH):
                rt()
            t1 = clock()
            if b:
                means.append((t1 - t0) / BATCH * 1e6)
    finally:
        close()
        child.wait()
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    return statistics.median(means), min(means), max(means)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ffi", default="ext,ctypes,cffi,cffi-api")
    ap.add_argument("--cpus", default="same,split")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--library")
    ap.add_argument("--c-pair", help="the compiled c_w1 program, to measure C<->C the same way")
    ap.add_argument("--child")
    ap.add_argument("--name")
    ap.add_argument("--cpu", type=int)
    ap.add_argument("--api")
    args = ap.parse_args()
    if args.child:
        os.sched_setaffinity(0, {args.cpu})
        run_client(args.child, args.name, args.n, args.library, args.api)
        return
    path = library_path(args)
    with tempfile.TemporaryDirectory() as tmp:
        ffis = args.ffi.split(",")
        if "cffi-api" in ffis:
            build_cffi_api(path, tmp)
        print(f"W1 (8-byte request, 64-byte bytes response), {args.n} round trips per run, "
              f"median of {BATCH}-round-trip batch means; library {path}")
        for cpus in args.cpus.split(","):
            if args.c_pair:
                out = subprocess.check_output([args.c_pair, cpus, str(args.n)], text=True)
                print(f"  {'C<->C':10s} {cpus:5s} {out.strip()}")
            for ffi in ffis:
                api = tmp if ffi == "cffi-api" else None
                med, lo, hi = measure(args, "cffi" if ffi == "cffi-api" else ffi, cpus, path, api)
                print(f"  {ffi:10s} {cpus:5s} {med:7.3f} us  (range {lo:.3f}-{hi:.3f})", flush=True)


if __name__ == "__main__":
    main()
