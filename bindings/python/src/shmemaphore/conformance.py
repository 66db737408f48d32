"""The Python conformance peer (docs/CONFORMANCE.md), server and client.

    python -m shmemaphore.conformance server --channel CH --requests FILE --count N --timeout SECONDS
    python -m shmemaphore.conformance client --channel CH --dir DIR

The server sends the lines of FILE in order (cycling; ``--names a,b,c``
instead picks names at random) and prints one line per exchange:

    <index> <request-length> image <W> <H> <C> <bytes> <fnv1a64-hex> <ms>
    <index> <request-length> bytes <bytes> <fnv1a64-hex> <ms>
    <index> <request-length> error <code> <ms>

The client answers each request with the image file DIR/<request> or
DIR/<request>.<ext>, decoded by the library (stb); code 1 when there is no
such file, code 2 when the request cannot be a file name (empty, longer than
255 bytes, containing '/' or NUL, starting with '.', not UTF-8), code 0 when
the file does not decode.  It exits 0 when the server closes the channel.

Exit status (both): 0 done, 1 an exchange failed, 2 usage error, 3 the
channel could not be opened.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import stat
import sys
import time
from typing import List, Optional, Sequence

import shmemaphore

EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "tga", "gif", "psd", "hdr", "pic", "pnm", "ppm", "pgm")
NAME_MAX_BYTES = 255


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2, as the other peers
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: {message}\n")
        sys.exit(2)


def _seconds(text: str) -> float:
    value = float(text)
    if not (value > 0 and value <= 1e9):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds > 0")
    return value


def read_requests(path: str) -> List[bytes]:
    """The lines of `path`, without their final newline; an empty line is an empty request."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    if not data:
        raise _Usage(f"--requests: {path} holds no lines")
    return lines


def _terminate(signo: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_server(args: argparse.Namespace) -> int:
    if args.requests and args.names:
        raise _Usage("--names and --requests cannot be used together")
    if args.requests:
        requests = read_requests(args.requests)
        pick = lambda i: requests[(i - 1) % len(requests)]  # noqa: E731
    else:
        names = [n.encode() for n in (args.names or "apple,ball,car,dog").split(",")]
        rng = random.Random(args.seed)
        pick = lambda i: rng.choice(names)  # noqa: E731
    try:
        server = shmemaphore.Server(args.channel, wait=args.wait)
    except shmemaphore.Error as e:
        print(f"server: cannot open channel {args.channel!r}: {e}", file=sys.stderr)
        return 3
    out = sys.stdout
    status = 0
    clock = time.monotonic
    fnv = shmemaphore.fnv1a64
    try:
        for i in range(1, args.count + 1):
            req = pick(i)
            start = clock()
            try:
                r = server.request(req, timeout=args.timeout)
            except shmemaphore.PeerError as e:
                ms = (clock() - start) * 1000.0
                out.write(f"{i} {len(req)} error {e.peer_code} {ms:.3f}\n")
                continue
            ms = (clock() - start) * 1000.0
            digest = fnv(r.data)
            if r.kind == shmemaphore.Kind.IMAGE:
                out.write(f"{i} {len(req)} image {r.width} {r.height} {r.channels} {r.nbytes} {digest:016x} {ms:.3f}\n")
            else:
                out.write(f"{i} {len(req)} bytes {r.nbytes} {digest:016x} {ms:.3f}\n")
            r.release()
    except KeyboardInterrupt:
        print("server: interrupted", file=sys.stderr)
        status = 1
    except shmemaphore.Error as e:
        print(f"server: request {i}: {e}", file=sys.stderr)
        status = 1
    finally:
        out.flush()
        server.close()
    return status


def check_request(request: bytes) -> Optional[str]:
    """None if `request` may name a file in DIR, else why not."""
    if not request:
        return "empty request"
    if len(request) > NAME_MAX_BYTES:
        return "request longer than 255 bytes"
    if b"\0" in request:
        return "request contains a NUL byte"
    if b"/" in request:
        return "request contains '/'"
    if request.startswith(b"."):
        return "request starts with '.'"
    try:
        request.decode("utf-8")
    except UnicodeDecodeError:
        return "request is not UTF-8"
    return None


def find_image(folder: bytes, name: bytes) -> Optional[bytes]:
    """DIR/name, else DIR/name.<ext>, as a regular file; None if none exists."""
    candidates = [os.path.join(folder, name)] + [os.path.join(folder, name + b"." + e.encode()) for e in EXTENSIONS]
    for path in candidates:
        try:
            if stat.S_ISREG(os.stat(path).st_mode):
                return path
        except OSError:
            pass
    return None


def run_client(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.dir):
        raise _Usage(f"--dir: {args.dir} is not a directory")
    folder = os.fsencode(args.dir)
    try:
        client = shmemaphore.Client(args.channel, attach_timeout=args.attach_timeout, wait=args.wait)
    except KeyboardInterrupt:
        return 0
    except shmemaphore.Error as e:
        print(f"client: cannot open channel {args.channel!r}: {e}", file=sys.stderr)
        return 3
    status = 0
    try:
        while True:
            try:
                request = client.receive(timeout=None)
            except shmemaphore.PeerGone:
                break
            refusal = check_request(request)
            if refusal:
                client.respond_error(shmemaphore.PEER_ERROR_BAD_REQUEST, refusal)
                continue
            path = find_image(folder, request)
            if path is None:
                client.respond_error(shmemaphore.PEER_ERROR_NOT_FOUND, f"no such image: {request.decode()}")
                continue
            try:
                client.send_image_file(path)
            except shmemaphore.Error as e:
                client.respond_error(shmemaphore.PEER_ERROR_UNSPECIFIED, f"{os.fsdecode(path)}: {e}")
    except KeyboardInterrupt:
        pass
    except shmemaphore.Error as e:
        print(f"client: {e}", file=sys.stderr)
        status = 1
    finally:
        client.close()
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: ``server`` or ``client`` and their options; returns the exit status."""
    parser = _Parser(prog="python -m shmemaphore.conformance", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server", help="send requests, print one line per exchange")
    s.add_argument("--channel", default="ibis")
    s.add_argument("--requests")
    s.add_argument("--names")
    s.add_argument("--count", type=int, default=10)
    s.add_argument("--timeout", type=_seconds, default=10.0)
    s.add_argument("--seed", type=int)
    s.add_argument("--wait", choices=["adaptive", "blocking"], default="adaptive")
    c = sub.add_parser("client", help="answer requests with image files")
    c.add_argument("--channel", default="ibis")
    c.add_argument("--dir", default="img")
    c.add_argument("--attach-timeout", type=_seconds, default=30.0)
    c.add_argument("--wait", choices=["adaptive", "blocking"], default="adaptive")
    args = parser.parse_args(argv)
    if args.role == "server" and args.count < 1:
        parser.error("--count must be at least 1")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run_server(args) if args.role == "server" else run_client(args)
    except _Usage as e:
        print(f"{args.role}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
