"""Threads sharing a channel, channels dropped without close, fork."""

import gc
import os
import threading
import warnings

import pytest

import shmemaphore
from conftest import PEER_TIMEOUT as T, ThreadClient, echo


def _exists(name):
    return bool([c for c in shmemaphore.list_channels() if c.name == name])


def test_threads_sharing_a_server_are_serialised(served):
    """Each call is whole; a response may be retired by another thread's call
    (ValueError), but never shows another request's answer, and nothing crashes."""
    server, _ = served
    stats = {"ok": 0, "stale": 0}
    failures = []
    lock = threading.Lock()

    def worker(k):
        for i in range(200):
            req = f"{k}:{i}".encode()
            try:
                r = server.request(req, timeout=T)
                data = r.tobytes()
            except ValueError:
                with lock:
                    stats["stale"] += 1
                continue
            except BufferError:
                with lock:  # another thread's view in use: its call wins later
                    stats["stale"] += 1
                continue
            except BaseException as e:  # noqa: BLE001
                failures.append(e)
                return
            if data != req[::-1]:
                failures.append(AssertionError(f"{req!r} answered {data!r}"))
                return
            with lock:
                stats["ok"] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T * 4)
    assert not failures, failures[:3]
    assert stats["ok"] > 0
    assert stats["ok"] + stats["stale"] == 800


def test_threads_with_their_own_lock_never_see_stale_data(served):
    server, _ = served
    lock = threading.Lock()
    failures = []

    def worker(k):
        for i in range(100):
            req = f"{k}-{i}".encode()
            with lock:
                data = server.request(req, timeout=T).tobytes()
            if data != req[::-1]:
                failures.append((req, data))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T * 4)
    assert not failures


def test_one_channel_per_thread(channel_names):
    names = [channel_names() for _ in range(3)]
    failures = []

    def pair(name):
        try:
            with shmemaphore.Server(name) as server:
                peer = ThreadClient(name, echo)
                for i in range(100):
                    req = f"{name}{i}".encode()
                    assert server.request(req, timeout=T).tobytes() == req[::-1]
            peer.join()
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    threads = [threading.Thread(target=pair, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T * 4)
    assert not failures


def test_server_garbage_collected_without_close_removes_its_objects(channel_name):
    def make():
        shmemaphore.Server(channel_name)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert not _exists(channel_name)
    with shmemaphore.Server(channel_name):  # the name is free again
        pass


def test_response_keeps_its_channel_alive(channel_name):
    server = shmemaphore.Server(channel_name)
    client = shmemaphore.Client(channel_name, attach_timeout=T)
    server.send_request(b"a")
    client.receive(timeout=T)
    client.respond(b"payload")
    a = server.receive_response(timeout=T).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del server
        gc.collect()
        assert a.tobytes() == b"payload"  # the mapping lives while the view does
        assert _exists(channel_name)
        del a
        gc.collect()
    assert not _exists(channel_name)
    with pytest.raises(shmemaphore.PeerGone):
        client.receive(timeout=T)
    client.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_fork_child_cannot_use_or_close_the_parents_channel(served):
    server, _ = served
    r = server.request(b"abc", timeout=T)
    del r
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            try:
                server.request(b"x", timeout=T)
                code = 1
            except RuntimeError as e:
                code = 0 if "fork" in str(e) else 2
            server.close()  # forgets the handle: must not unlink the parent's objects
            server.interrupt()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gc.collect()
        except BaseException:  # noqa: BLE001
            code = 3
        os.write(write, bytes([code]))
        os._exit(0)
    os.close(write)
    status = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert status == b"\x00"
    assert _exists(server.name)
    assert server.request(b"after fork", timeout=T).tobytes() == b"krof retfa"
