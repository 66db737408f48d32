"""Round trips, metadata, errors and the API's surface (a client thread in this process)."""

import errno

import numpy as np
import pytest

import shmemaphore
from conftest import PEER_TIMEOUT, ThreadClient, eventually

T = PEER_TIMEOUT


def test_versions():
    assert shmemaphore.version == shmemaphore.__version__
    assert shmemaphore.version.count(".") == 2
    assert shmemaphore.protocol_version == 1
    assert shmemaphore.error_name(-1003) == "SHMEMAPHORE_E_TIMEOUT"
    assert shmemaphore.error_name(-errno.ENOENT) == "ENOENT"
    assert "time" in shmemaphore.strerror(-1003).lower()


def test_bytes_round_trip_str_and_bytes_requests(served):
    server, _ = served
    r = server.request(b"dog", timeout=T)
    assert r.kind is shmemaphore.Kind.BYTES and r.kind == 1
    assert (r.width, r.height, r.channels, r.nbytes, len(r)) == (0, 0, 0, 3, 3)
    assert r.data.readonly and bytes(r.data) == b"god"
    assert r.tobytes() == b"god" and bytes(r) == b"god"
    r = server.request("chère", timeout=T)  # str goes as UTF-8
    assert r.tobytes() == "chère".encode()[::-1]
    r = server.request(bytearray(b"ab"), timeout=T)
    assert r.tobytes() == b"ba"
    r = server.request(memoryview(b"xyz"), timeout=None)
    assert r.tobytes() == b"zyx"


def test_empty_request_and_zero_byte_response(served):
    server, peer = served
    r = server.request(b"", timeout=T)
    assert r.nbytes == 0 and len(r.data) == 0 and r.tobytes() == b""
    a = r.to_numpy()
    assert a.shape == (0,) and a.dtype == np.uint8
    del a
    assert peer.requests == [b""]


def test_image_round_trip_and_to_numpy(served):
    server, peer = served
    img = np.random.default_rng(1).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    peer.handler = lambda c, req: c.respond_image(img)
    r = server.request(b"img", timeout=T)
    assert r.kind is shmemaphore.Kind.IMAGE
    assert (r.width, r.height, r.channels, r.nbytes) == (5, 7, 3, 105)
    a = r.to_numpy()
    assert a.shape == (7, 5, 3) and a.dtype == np.uint8 and not a.flags.writeable
    assert np.array_equal(a, img)
    c = r.to_numpy(copy=True)
    assert c.flags.writeable
    del a
    server.request(b"next", timeout=T)
    assert np.array_equal(c, img)  # the copy outlives the response


def test_gray_image_two_dimensional(served):
    server, peer = served
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    peer.handler = lambda c, req: c.respond_image(img)
    r = server.request(b"g", timeout=T)
    assert (r.width, r.height, r.channels) == (4, 3, 1)
    assert np.array_equal(r.to_numpy()[:, :, 0], img)


def test_non_contiguous_image_is_gathered(served):
    server, peer = served
    base = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    view = base[::2, 1::3]  # not contiguous
    assert not view.flags.c_contiguous
    peer.handler = lambda c, req: c.respond_image(view)
    r = server.request(b"nc", timeout=T)
    assert np.array_equal(r.to_numpy(), view)


def test_non_contiguous_bytes_are_gathered(served):
    server, peer = served
    base = np.arange(20, dtype=np.uint8)
    peer.handler = lambda c, req: c.respond(base[::2])
    assert server.request(b"x", timeout=T).tobytes() == bytes(base[::2])


def test_error_response_raises_peer_error(served):
    server, peer = served
    peer.handler = lambda c, req: c.respond_error(shmemaphore.PEER_ERROR_NOT_FOUND, "no such image: dog")
    with pytest.raises(shmemaphore.PeerError) as info:
        server.request(b"dog", timeout=T)
    e = info.value
    assert e.peer_code == 1 and e.message == "no such image: dog"
    assert e.code == -1005 and e.name == "SHMEMAPHORE_E_PEER_ERROR"
    assert isinstance(e, shmemaphore.Error)
    peer.handler = lambda c, req: c.respond_error(2**64 - 1)
    with pytest.raises(shmemaphore.PeerError) as info:
        server.request(b"x", timeout=T)
    assert info.value.peer_code == 2**64 - 1 and info.value.message == ""
    peer.handler = lambda c, req: c.respond(b"ok")
    assert server.request(b"x", timeout=T).tobytes() == b"ok"  # usable after


def test_save_image(served, tmp_path):
    server, peer = served
    img = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3)
    peer.handler = lambda c, req: c.respond_image(img)
    r = server.request(b"x", timeout=T)
    r.save(tmp_path / "x.png")
    r.save(str(tmp_path / "x.bmp"))
    assert (tmp_path / "x.png").stat().st_size > 0
    with pytest.raises(shmemaphore.UnsupportedFormat):
        r.save(tmp_path / "x.webp")
    peer.handler = lambda c, req: c.respond(b"raw")
    r = server.request(b"x", timeout=T)
    with pytest.raises(shmemaphore.NotImage):
        r.save(tmp_path / "y.png")


def test_send_image_file_round_trip(served, tmp_path):
    server, peer = served
    img = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3)
    peer.handler = lambda c, req: c.respond_image(img)
    server.request(b"x", timeout=T).save(tmp_path / "a.png")
    sent = []
    peer.handler = lambda c, req: sent.append(c.send_image_file(tmp_path / "a.png"))
    r = server.request(b"file", timeout=T)
    eventually(lambda: sent)
    assert sent == [(3, 4, 3)]
    assert np.array_equal(r.to_numpy(), img)


def test_send_image_file_missing_leaves_request_to_answer(served, tmp_path):
    server, peer = served
    seen = []

    def handler(c, req):
        try:
            c.send_image_file(tmp_path / "missing.png")
        except shmemaphore.SysError as e:
            seen.append(e.errno)
            assert c.pending
            c.respond_error(1, "missing")

    peer.handler = handler
    with pytest.raises(shmemaphore.PeerError):
        server.request(b"x", timeout=T)
    assert seen == [errno.ENOENT]


def test_split_send_and_receive(served):
    server, _ = served
    server.send_request(b"abc")
    assert server.receive_response(timeout=T).tobytes() == b"cba"
    with pytest.raises(shmemaphore.WrongState):
        server.receive_response(timeout=T)  # nothing outstanding


def test_timeout_without_client(channel_name):
    with shmemaphore.Server(channel_name) as server:
        with pytest.raises(shmemaphore.Timeout) as info:
            server.request(b"x", timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        assert info.value.code == -1003 and info.value.name == "SHMEMAPHORE_E_TIMEOUT"
        with pytest.raises(shmemaphore.Timeout):
            server.request(b"x", timeout=0)  # poll


def test_request_after_timeout_gets_its_own_answer(channel_name):
    with shmemaphore.Server(channel_name) as server:
        with pytest.raises(shmemaphore.Timeout):
            server.request(b"old", timeout=0.01)
        peer = ThreadClient(channel_name, lambda c, r: c.respond(r))
        assert server.request(b"new", timeout=T).tobytes() == b"new"
    peer.join()


def test_client_attach_timeout(channel_name):
    with pytest.raises(shmemaphore.Timeout):
        shmemaphore.Client(channel_name, attach_timeout=0.05)


def test_busy(channel_name):
    with shmemaphore.Server(channel_name) as server:
        with pytest.raises(shmemaphore.Busy):
            shmemaphore.Server(channel_name)
        with shmemaphore.Client(channel_name, attach_timeout=T):
            with pytest.raises(shmemaphore.Busy):
                shmemaphore.Client(channel_name, attach_timeout=T)
        assert not server.closed


def test_stale_fail_and_options(channel_name):
    with shmemaphore.Server(channel_name, mode=0o660, stale="reset", wait="blocking", untrusted_peer=True):
        pass
    with shmemaphore.Server(channel_name, stale="fail"):
        pass
    with pytest.raises(ValueError):
        shmemaphore.Server(channel_name, stale="maybe")
    with pytest.raises(ValueError):
        shmemaphore.Server(channel_name, wait="sometimes")
    with pytest.raises(shmemaphore.InvalidArgument):
        shmemaphore.Server(channel_name, mode=0o666)  # others' bits are refused


def test_peer_gone_then_next_server(channel_name):
    server = shmemaphore.Server(channel_name)
    client = shmemaphore.Client(channel_name, attach_timeout=T)
    server.close()
    with pytest.raises(shmemaphore.PeerGone):
        client.receive(timeout=T)
    server = shmemaphore.Server(channel_name)
    server.send_request(b"again")
    assert client.receive(timeout=T) == b"again"
    client.respond(b"yes")
    assert server.receive_response(timeout=T).tobytes() == b"yes"
    client.close()
    server.close()


def test_receive_twice_without_answer_says_why(served):
    server, peer = served
    got = []

    def handler(c, req):
        with pytest.raises(shmemaphore.WrongState, match="not answered"):
            c.receive(timeout=0)
        got.append(True)
        c.respond(b"")

    peer.handler = handler
    server.request(b"x", timeout=T)
    assert got == [True]


def test_list_and_remove_channels(channel_name):
    server = shmemaphore.Server(channel_name)
    info = [c for c in shmemaphore.list_channels() if c.name == channel_name]
    assert len(info) == 1
    assert info[0].objects == 15 and info[0].server_locked == 1
    with pytest.raises(shmemaphore.Busy):
        shmemaphore.remove_channel(channel_name)
    assert shmemaphore.remove_channel(channel_name, force=True) == 4
    assert not [c for c in shmemaphore.list_channels() if c.name == channel_name]
    server.close()
    assert shmemaphore.remove_channel(channel_name) == 0


def test_repr_and_names(channel_name):
    with shmemaphore.Server("/" + channel_name) as server:
        assert server.name == "/" + channel_name
        assert channel_name in repr(server)
    assert "closed" in repr(server) and server.closed


def test_exceptions_hierarchy():
    for cls in (shmemaphore.Timeout, shmemaphore.PeerGone, shmemaphore.Busy, shmemaphore.ProtocolError,
                shmemaphore.Interrupted, shmemaphore.PeerError, shmemaphore.InvalidName, shmemaphore.SysError,
                shmemaphore.WrongState, shmemaphore.WrongRole, shmemaphore.TooLarge):
        assert issubclass(cls, shmemaphore.Error)
    assert issubclass(shmemaphore.Timeout, TimeoutError)
    assert issubclass(shmemaphore.SysError, OSError)
