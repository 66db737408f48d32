"""Large payloads: a 33 MB 4K RGBA frame both ways, and growth/shrink of the segment."""

import numpy as np
import pytest

import shmemaphore
from conftest import PEER_TIMEOUT as T, python_peer

W, H, C = 3840, 2160, 4  # 33,177,600 bytes


def test_33mb_image_from_a_thread(served):
    server, peer = served
    img = np.random.default_rng(3).integers(0, 256, size=(H, W, C), dtype=np.uint8)
    peer.handler = lambda c, req: c.respond_image(img)
    r = server.request(b"uhd", timeout=T)
    assert (r.width, r.height, r.channels, r.nbytes) == (W, H, C, W * H * C)
    assert len(r.data) == r.nbytes
    assert shmemaphore.fnv1a64(r.data) == shmemaphore.fnv1a64(img)
    assert np.array_equal(r.to_numpy(), img)


def test_33mb_zero_copy_image_from_another_process(channel_name):
    expected = (np.arange(W * H * C) % 251).astype(np.uint8).reshape(H, W, C)
    with shmemaphore.Server(channel_name) as server:
        peer = python_peer("image-client", channel_name)
        try:
            for shape in [(W, H, C), (1, 1, 1), (640, 480, 3), (W, H, C)]:
                w, h, c = shape
                r = server.request(f"{w} {h} {c}", timeout=T)
                assert (r.width, r.height, r.channels) == shape
                a = r.to_numpy()
                exp = expected if shape == (W, H, C) else (np.arange(w * h * c) % 251).astype(np.uint8).reshape(h, w, c)
                assert np.array_equal(a, exp)
                del a
        finally:
            server.close()
            assert peer.wait(timeout=T) == 0


def test_growing_and_shrinking_bytes(served):
    server, peer = served
    peer.handler = lambda c, req: c.respond(bytes(int(req)))
    for n in (0, 1, 4096, 10_000_000, 3, 33_177_600, 0, 65):
        r = server.request(str(n), timeout=T)
        assert r.nbytes == n == len(r.data) == r.to_numpy().size
