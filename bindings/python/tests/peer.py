"""Peers that the tests start as separate Python processes.

    peer.py echo-client CHANNEL            answer each request reversed; exit 0 on PeerGone
    peer.py image-client CHANNEL           answer "W H C" with an image of that shape, byte i = i % 251
    peer.py hang-client CHANNEL            take one request, print "got", never answer (to be killed)
    peer.py idle-server CHANNEL            open a server, print "ready", never send (to be killed)
    peer.py wait-request CHANNEL           open a server and wait in request(timeout=None) (no client)
    peer.py wait-receive CHANNEL           open a client and wait in receive(timeout=None)
The wait-* peers print "ready" once waiting is about to start and, on
KeyboardInterrupt, print "KeyboardInterrupt <monotonic seconds>" and exit 0.
"""

import sys
import time

import numpy as np

import shmemaphore


def main():
    role, channel = sys.argv[1], sys.argv[2]
    if role == "echo-client":
        with shmemaphore.Client(channel, attach_timeout=60) as c:
            while True:
                try:
                    r = c.receive(timeout=60)
                except shmemaphore.PeerGone:
                    return 0
                c.respond(r[::-1])
    if role == "image-client":
        with shmemaphore.Client(channel, attach_timeout=60) as c:
            while True:
                try:
                    r = c.receive(timeout=60)
                except shmemaphore.PeerGone:
                    return 0
                w, h, ch = (int(x) for x in r.split())
                with c.reserve_image(w, h, ch) as buf:
                    np.asarray(buf).reshape(-1)[:] = (np.arange(w * h * ch) % 251).astype(np.uint8)
    if role == "hang-client":  # take one request, say "got", never answer
        with shmemaphore.Client(channel, attach_timeout=60) as c:
            c.receive(timeout=60)
            print("got", flush=True)
            time.sleep(3600)
    if role == "idle-server":  # open the channel, say "ready", never send
        with shmemaphore.Server(channel):
            print("ready", flush=True)
            time.sleep(3600)
    if role in ("wait-request", "wait-receive"):
        if role == "wait-request":
            ch = shmemaphore.Server(channel)
            wait = lambda: ch.request(b"nobody answers", timeout=None)  # noqa: E731
        else:
            ch = shmemaphore.Client(channel, attach_timeout=60)
            wait = lambda: ch.receive(timeout=None)  # noqa: E731
        try:
            print("ready", flush=True)
            wait()
        except KeyboardInterrupt:
            print(f"KeyboardInterrupt {time.monotonic():.6f}", flush=True)
            ch.close()
            return 0
        print("the wait returned", flush=True)
        return 1
    print(f"unknown role {role}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
