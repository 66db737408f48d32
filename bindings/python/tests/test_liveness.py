"""A peer that dies is noticed by a wait without a timeout (PeerGone), even
though the binding waits in slices (they must outlast the library's 50 ms
liveness interval, or the liveness checks never run)."""

import signal
import subprocess

import pytest

import shmemaphore
from conftest import PEER_TIMEOUT as T, python_peer


def _kill(peer):
    peer.send_signal(signal.SIGKILL)
    peer.wait(timeout=T)


def test_server_sees_its_client_die(channel_name):
    with shmemaphore.Server(channel_name) as server:
        peer = python_peer("hang-client", channel_name, stdout=subprocess.PIPE, text=True)
        try:
            server.send_request(b"never answered")
            assert peer.stdout.readline().strip() == "got"
            # The library learns that a client lives (its liveness lock) only
            # while it waits: a client that died before any wait saw it alive
            # cannot be told from one that has not come yet.  Wait once.
            with pytest.raises(shmemaphore.Timeout):
                server.receive_response(timeout=0.3)
        finally:
            _kill(peer)
        with pytest.raises(shmemaphore.PeerGone):
            server.receive_response(timeout=None)


def test_client_sees_its_server_die(channel_name):
    peer = python_peer("idle-server", channel_name, stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout.readline().strip() == "ready"
        client = shmemaphore.Client(channel_name, attach_timeout=T)
    finally:
        _kill(peer)
    with client:
        with pytest.raises(shmemaphore.PeerGone):
            client.receive(timeout=None)


def test_client_sees_its_server_close(channel_name):
    server = shmemaphore.Server(channel_name)
    with shmemaphore.Client(channel_name, attach_timeout=T) as client:
        import threading

        errors = []

        def wait():
            try:
                client.receive(timeout=None)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=wait)
        t.start()
        server.close()
        t.join(T)
        assert not t.is_alive() and len(errors) == 1 and isinstance(errors[0], shmemaphore.PeerGone)
