"""Bad input from Python raises exceptions; it never crashes the process."""

import numpy as np
import pytest

import shmemaphore
from conftest import PEER_TIMEOUT as T


@pytest.mark.parametrize("name, error", [
    ("", shmemaphore.InvalidName),
    ("a/b", shmemaphore.InvalidName),
    ("x" * 201, shmemaphore.InvalidName),
    ("nul\0inside", shmemaphore.InvalidName),
    ("ctrl\x01", shmemaphore.InvalidName),
    (b"\xff\xfe", shmemaphore.InvalidName),  # not UTF-8
    (42, TypeError),
    (None, TypeError),
])
def test_bad_channel_names(name, error):
    with pytest.raises(error):
        shmemaphore.Server(name)
    with pytest.raises(error):
        shmemaphore.Client(name, attach_timeout=0)
    with pytest.raises(error):
        shmemaphore.remove_channel(name)


def test_longest_name_is_fine(channel_names):
    base = channel_names()
    name = (base + "x" * 200)[:200]
    try:
        with shmemaphore.Server(name):
            pass
    finally:
        shmemaphore.remove_channel(name, force=True)


@pytest.mark.parametrize("kwargs, error", [
    ({"timeout": -1}, ValueError),
    ({"timeout": float("nan")}, ValueError),
    ({"timeout": "soon"}, TypeError),
    ({"timeout": 1e300}, ValueError),
    ({"bogus": 1}, TypeError),
])
def test_bad_request_arguments(channel_name, kwargs, error):
    with shmemaphore.Server(channel_name) as server:
        with pytest.raises(error):
            server.request(b"x", **kwargs)
        for request in (42, None, [1, 2]):
            with pytest.raises(TypeError):
                server.request(request, timeout=0)
        with pytest.raises(ValueError, match="contiguous"):
            server.request(np.zeros((2, 2), np.uint8)[:, 0], timeout=0)
        with pytest.raises(TypeError):
            server.request()
        with pytest.raises(TypeError):
            server.request(b"x", 1.0, 2.0)
        with pytest.raises(TypeError):
            server.request(b"x", 1.0, timeout=2.0)


def test_bad_client_options(channel_name):
    with pytest.raises(ValueError):
        shmemaphore.Client(channel_name, attach_timeout=-1)
    with pytest.raises(TypeError):
        shmemaphore.Client(channel_name, attach_timeout="x")
    with pytest.raises(ValueError):
        shmemaphore.Client(channel_name, attach_timeout=0, wait="spin")
    with pytest.raises(TypeError):
        shmemaphore.Server(channel_name, unknown=True)
    with pytest.raises(TypeError):
        shmemaphore.Channel()
    with pytest.raises(TypeError):
        shmemaphore.Response()


def test_calls_on_closed_channels(channel_name):
    server = shmemaphore.Server(channel_name)
    client = shmemaphore.Client(channel_name, attach_timeout=T)
    client.close()
    client.close()
    for call in (lambda: client.receive(timeout=0), lambda: client.respond(b"x"), lambda: client.reserve(1),
                 lambda: client.respond_error(1, "x"), lambda: client.respond_image(np.zeros((1, 1, 1), np.uint8)),
                 lambda: client.send_image_file("x.png"), lambda: client.__enter__()):
        with pytest.raises(ValueError, match="closed"):
            call()
    client.interrupt()  # does nothing
    server.close()
    server.close()
    with pytest.raises(ValueError, match="closed"):
        server.request(b"x", timeout=0)
    with pytest.raises(ValueError, match="closed"):
        server.send_request(b"x")


def test_answers_in_the_wrong_state(channel_name):
    with shmemaphore.Server(channel_name) as server, shmemaphore.Client(channel_name, attach_timeout=T) as client:
        with pytest.raises(shmemaphore.WrongState):
            client.respond(b"nobody asked")
        with pytest.raises(shmemaphore.WrongState):
            client.respond_error(1, "x")
        with pytest.raises(shmemaphore.WrongState):
            client.reserve(10)
        with pytest.raises(shmemaphore.WrongState):
            server.receive_response(timeout=0)


def test_bad_answers(served):
    server, peer = served
    results = []

    def handler(c, req):
        for call, error in [
            (lambda: c.respond(42), TypeError),
            (lambda: c.respond_image(np.zeros((2, 2), np.float32)), TypeError),
            (lambda: c.respond_image(np.zeros((2, 2), np.uint16)), TypeError),
            (lambda: c.respond_image(np.zeros((2, 2, 2, 2), np.uint8)), ValueError),
            (lambda: c.respond_image(np.zeros((4,), np.uint8)), ValueError),
            (lambda: c.respond_image(np.zeros((0, 2, 3), np.uint8)), ValueError),
            (lambda: c.respond_image(b"bytes are 1-D"), ValueError),
            (lambda: c.respond_image([[1, 2]]), TypeError),
            (lambda: c.reserve(-1), ValueError),
            (lambda: c.reserve(2**70), OverflowError),
            (lambda: c.reserve("10"), TypeError),
            (lambda: c.reserve(2**62), shmemaphore.Error),
            (lambda: c.reserve_image(0, 1, 1), ValueError),
            (lambda: c.reserve_image(2**40, 2**40, 4), shmemaphore.TooLarge),
            (lambda: c.respond_error(-1, "x"), ValueError),
            (lambda: c.respond_error(2**64, "x"), ValueError),
            (lambda: c.respond_error("1", "x"), TypeError),
            (lambda: c.respond_error(1, "nul\0"), ValueError),
            (lambda: c.respond_error(1, b"bytes"), TypeError),
            (lambda: c.send_image_file("nul\0.png"), ValueError),
            (lambda: c.send_image_file(12), TypeError),
            (lambda: c.receive(timeout=-3), ValueError),
        ]:
            with pytest.raises(error):
                call()
            assert c.pending
        res = c.reserve(8)
        with pytest.raises(ValueError):
            res.commit(9)
        with pytest.raises(ValueError):
            res.commit(-1)
        results.append("done")  # before the commit: the server may run as soon as it lands
        res.commit(2)

    peer.handler = handler
    assert server.request(b"x", timeout=T).nbytes == 2
    assert results == ["done"]
