"""A response's memory (and a reserved buffer) is valid only until the next
call on its channel: views die then, and a view still in use stops the call.

The library reuses the same shared memory for the next payload, so a naive
binding that handed out plain views would show the next response's bytes
through the old view (test_memory_is_reused shows the reuse): these tests
fail on such a binding."""

import gc

import numpy as np
import pytest

import shmemaphore
from conftest import PEER_TIMEOUT as T, eventually


def test_memory_is_reused_so_old_views_must_die(served):
    server, peer = served
    peer.handler = lambda c, req: c.respond(req * 64)
    r1 = server.request(b"A", timeout=T)
    a1 = r1.to_numpy()
    address = a1.__array_interface__["data"][0]
    del a1
    r2 = server.request(b"B", timeout=T)
    a2 = r2.to_numpy()
    # The second payload sits where the first one did: a plain view of r1
    # would now read b"B" * 64.
    assert a2.__array_interface__["data"][0] == address
    assert a2.tobytes() == b"B" * 64
    with pytest.raises(ValueError):
        r1.data
    with pytest.raises(ValueError):
        r1.to_numpy()


def test_view_is_released_by_the_next_call(served):
    server, _ = served
    r = server.request(b"abc", timeout=T)
    v = r.data
    assert v is r.data  # one tracked view while it lives
    assert bytes(v) == b"cba"
    server.request(b"xyz", timeout=T)
    for use in (lambda: v[0], lambda: bytes(v), lambda: v.tobytes(), lambda: np.frombuffer(v, dtype=np.uint8)):
        with pytest.raises(ValueError):
            use()
    assert not r.valid
    for use in (lambda: r.data, r.tobytes, r.to_numpy, lambda: bytes(r), lambda: memoryview(r)):
        with pytest.raises(ValueError, match="no longer valid"):
            use()
    assert (r.kind, r.nbytes) == (shmemaphore.Kind.BYTES, 3)  # metadata stays readable
    assert "released" in repr(r)


def test_live_numpy_view_stops_the_next_call(served):
    server, peer = served
    peer.handler = lambda c, req: c.respond(req * 10)
    a = server.request(b"1", timeout=T).to_numpy()
    before = len(peer.requests)
    with pytest.raises(BufferError, match="still in use"):
        server.request(b"2", timeout=T)
    assert len(peer.requests) == before  # nothing was sent
    assert a.tobytes() == b"1" * 10  # and nothing overwrote the memory
    with pytest.raises(ValueError):
        a[0] = 0  # read-only
    with pytest.raises(BufferError):
        server.request(b"2", timeout=T)  # still refused, still harmless
    del a
    assert server.request(b"2", timeout=T).tobytes() == b"2" * 10


@pytest.mark.parametrize("make", [
    lambda r: r.data[1:],                       # a slice shares the buffer, untracked
    lambda r: memoryview(r),                    # a memoryview of the response itself
    lambda r: np.frombuffer(r, dtype=np.uint8),  # numpy straight from the exporter
    lambda r: np.asarray(r.data),
    lambda r: r.data.cast("B", (1, 3)),
])
def test_any_other_view_stops_the_next_call(served, make):
    server, _ = served
    r = server.request(b"abc", timeout=T)
    view = make(r)
    before = bytes(view)
    with pytest.raises(BufferError):
        server.request(b"def", timeout=T)
    assert bytes(view) == before
    del view
    assert server.request(b"def", timeout=T).tobytes() == b"fed"


def test_peer_error_also_ends_the_previous_response(served):
    server, peer = served
    r = server.request(b"abc", timeout=T)
    v = r.data
    peer.handler = lambda c, req: c.respond_error(1, "nope")
    with pytest.raises(shmemaphore.PeerError):
        server.request(b"x", timeout=T)
    with pytest.raises(ValueError):
        bytes(v)


def test_timeout_also_ends_the_previous_response(channel_name):
    with shmemaphore.Server(channel_name) as server:
        with shmemaphore.Client(channel_name, attach_timeout=T) as client:
            server.send_request(b"a")
            client.receive(timeout=T)
            client.respond(b"payload")
            r = server.receive_response(timeout=T)
            v = r.data
            with pytest.raises(shmemaphore.Timeout):
                server.request(b"b", timeout=0.01)
            with pytest.raises(ValueError):
                bytes(v)


def test_release_and_context_manager(served):
    server, _ = served
    with server.request(b"abc", timeout=T) as r:
        v = r.data
        assert bytes(v) == b"cba"
    with pytest.raises(ValueError):
        bytes(v)
    r = server.request(b"abc", timeout=T)
    s = r.data[:1]
    with pytest.raises(BufferError):
        r.release()
    del s
    r.release()
    r.release()  # twice is fine
    assert not r.valid


def test_close_with_a_live_view_is_refused(channel_name):
    server = shmemaphore.Server(channel_name)
    with shmemaphore.Client(channel_name, attach_timeout=T) as client:
        server.send_request(b"a")
        client.receive(timeout=T)
        client.respond(b"payload")
        a = server.receive_response(timeout=T).to_numpy()
        with pytest.raises(BufferError):
            server.close()
        assert not server.closed
        assert a.tobytes() == b"payload"
        del a
        server.close()
        assert server.closed
        with pytest.raises(ValueError, match="closed"):
            server.request(b"x", timeout=T)
        with pytest.raises(shmemaphore.PeerGone):
            client.receive(timeout=T)


def test_with_block_raising_keeps_its_exception_and_views_valid(channel_name):
    kept = None
    with pytest.raises(KeyError):
        with shmemaphore.Server(channel_name) as server:
            with shmemaphore.Client(channel_name, attach_timeout=T) as client:
                server.send_request(b"a")
                client.receive(timeout=T)
                client.respond(b"payload")
            kept = server.receive_response(timeout=T).to_numpy()
            raise KeyError("mine")
    # The server is closed for calls; its memory lives while the array does.
    assert server.closed
    assert kept.tobytes() == b"payload"
    assert [c for c in shmemaphore.list_channels() if c.name == channel_name]
    del kept, server
    gc.collect()
    assert not [c for c in shmemaphore.list_channels() if c.name == channel_name]


# --- reserved buffers -------------------------------------------------------

def test_reserve_commits_at_the_end_of_the_block(served):
    server, peer = served
    kept = []

    def handler(c, req):
        with c.reserve(5) as buf:
            assert not buf.readonly and len(buf) == 5
            buf[:] = b"hello"
            kept.append(buf)
        with pytest.raises(ValueError):
            buf[0] = 1  # released at the commit

    peer.handler = handler
    assert server.request(b"x", timeout=T).tobytes() == b"hello"


def test_reserve_partial_commit_and_image(served):
    server, peer = served

    def handler(c, req):
        if req == b"part":
            res = c.reserve(10)
            res.buffer[:4] = b"abcd"
            res.commit(4)
            assert res.state == "committed"
            with pytest.raises(ValueError):
                res.commit()
        else:
            with c.reserve_image(4, 2, 3) as buf:
                assert buf.shape == (2, 4, 3)
                np.asarray(buf)[:] = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)

    peer.handler = handler
    assert server.request(b"part", timeout=T).tobytes() == b"abcd"
    r = server.request(b"img", timeout=T)
    assert (r.width, r.height, r.channels) == (4, 2, 3)
    assert r.to_numpy().ravel().tolist() == list(range(24))


def test_reserve_block_that_raises_commits_nothing_and_answers_an_error(served):
    server, peer = served
    caught = []

    def handler(c, req):
        if req == b"boom":
            try:
                with c.reserve(5) as buf:
                    buf[:] = b"xxxxx"
                    raise RuntimeError("boom inside")
            except RuntimeError as e:
                caught.append(e)
            assert not c.pending
        else:
            c.respond(b"fine")

    peer.handler = handler
    with pytest.raises(shmemaphore.PeerError) as info:
        server.request(b"boom", timeout=T)
    assert info.value.peer_code == 0 and "RuntimeError: boom inside" in info.value.message
    eventually(lambda: caught)
    assert len(caught) == 1
    assert server.request(b"next", timeout=T).tobytes() == b"fine"  # the channel goes on


def test_live_view_of_the_reservation_stops_the_commit(served):
    server, peer = served
    notes = []

    def handler(c, req):
        res = c.reserve(3)
        try:
            with res as buf:
                a = np.asarray(buf)
                a[:] = 7
        except BufferError as e:
            notes.append(str(e))
        with pytest.raises(BufferError):
            c.respond_error(0, "x")  # any other call is refused too
        del a
        res.commit()

    peer.handler = handler
    assert server.request(b"x", timeout=T).tobytes() == b"\x07\x07\x07"
    assert "still in use" in notes[0]


def test_another_call_drops_the_reservation(served):
    server, peer = served
    views = []

    def handler(c, req):
        res = c.reserve(3)
        buf = res.buffer
        views.append(buf)
        del buf
        c.respond_error(2, "changed my mind")  # retires the reservation
        assert res.state == "dropped"
        with pytest.raises(ValueError):
            res.commit()

    peer.handler = handler
    with pytest.raises(shmemaphore.PeerError):
        server.request(b"x", timeout=T)
    with pytest.raises(ValueError):
        views[0][0] = 1


def test_responding_with_the_channels_own_buffer_is_refused(served):
    server, peer = served

    def handler(c, req):
        res = c.reserve(3)
        buf = res.buffer
        with pytest.raises(BufferError):
            c.respond(buf)
        del buf
        res.cancel("no")

    peer.handler = handler
    with pytest.raises(shmemaphore.PeerError):
        server.request(b"x", timeout=T)
