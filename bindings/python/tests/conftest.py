"""Fixtures of the binding's tests.

Every channel name is unique (pytest-<pid>-<counter>-<test>) and every test
removes the /dev/shm objects of the channels it named, even when it fails.
The two-process tests find the other implementations through environment
variables and are skipped with the reason when one is missing (they fail
instead when SHMEMAPHORE_PY_REQUIRE_PEERS=1, as under ctest):

  SHMEMAPHORE_TOOL          the Swift tool (build/bin/shmemaphore or .build/debug/shmemaphore-cli)
  SHMEMAPHORE_C_SERVER      c-examples/server.c, built (build/bin/shmemaphore-example-server)
  SHMEMAPHORE_C_CLIENT      c-examples/client.c, built (build/bin/shmemaphore-example-client)
  SHMEMAPHORE_HOSTILE_PEER  Tests/Hostile/hostile_peer.c, built (build/bin/shmemaphore-hostile-peer)
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading

import pytest

import shmemaphore

_counter = itertools.count(1)

# Generous bound for what a test waits for from a peer process that should
# answer at once: only a hang ever reaches it (a 2-core shared machine).
PEER_TIMEOUT = 60.0


def _clean(name: str) -> None:
    try:
        shmemaphore.remove_channel(name, force=True)
    except shmemaphore.Error:
        pass


@pytest.fixture(scope="session", autouse=True)
def _sweep_dead_runs():
    """Remove what an earlier run killed before its clean-up left behind: channels
    pytest-<pid>-... whose process is gone and that no live peer holds."""
    for info in shmemaphore.list_channels():
        m = re.match(r"pytest-(\d+)-", info.name)
        if not m or info.server_locked == 1 or info.client_locked == 1:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # that process still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _clean(info.name)
    yield


@pytest.fixture
def channel_names(request):
    """A factory of unique channel names; all are removed at the end."""
    made = []
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60]

    def make() -> str:
        name = f"pytest-{os.getpid()}-{next(_counter)}-{test}"
        made.append(name)
        return name

    yield make
    for name in made:
        _clean(name)
    leftovers = [c.name for c in shmemaphore.list_channels() if c.name in made]
    assert not leftovers, f"objects left in /dev/shm: {leftovers}"


@pytest.fixture
def channel_name(channel_names):
    """One unique channel name, removed at the end."""
    return channel_names()


def eventually(predicate, what="the condition"):
    """Wait (up to PEER_TIMEOUT) for `predicate()`: for what a client thread
    records after its answer, which the server may see first."""
    import time

    deadline = time.monotonic() + PEER_TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.001)


def executable_from_env(variable: str) -> str:
    """The program named by `variable`; skips the test without it, or fails
    when SHMEMAPHORE_PY_REQUIRE_PEERS=1 (ctest: a missing peer is a failure)."""
    missing = pytest.fail if os.environ.get("SHMEMAPHORE_PY_REQUIRE_PEERS") == "1" else pytest.skip
    path = os.environ.get(variable)
    if not path:
        missing(f"{variable} is not set (path of the program this test runs)")
    if not os.access(path, os.X_OK):
        missing(f"{variable}={path} is not an executable file")
    return path


class ThreadClient:
    """A Client in a thread of this process that answers with `handler(client, request)`.

    The handler answers each request; the thread ends when the server closes
    the channel.  Exceptions in the thread are re-raised by join()."""

    def __init__(self, name: str, handler, **kwargs):
        self.name = name
        self.handler = handler
        self.kwargs = kwargs
        self.error = None
        self.stopping = False
        self.client = None
        self.requests = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            with shmemaphore.Client(self.name, attach_timeout=PEER_TIMEOUT, **self.kwargs) as client:
                self.client = client
                self.ready.set()
                while True:
                    try:
                        req = client.receive(timeout=PEER_TIMEOUT)
                    except shmemaphore.PeerGone:
                        return
                    except shmemaphore.Interrupted:
                        if self.stopping:
                            return
                        raise
                    self.requests.append(req)
                    self.handler(client, req)
        except BaseException as e:  # noqa: BLE001 - reported by join()
            self.error = e
            self.ready.set()

    def stop(self):
        """End the thread's wait (when the server could not be closed)."""
        self.stopping = True
        self.ready.wait(PEER_TIMEOUT)
        if self.client is not None:
            self.client.interrupt()

    def join(self):
        self.thread.join(PEER_TIMEOUT)
        assert not self.thread.is_alive(), "client thread did not end"
        if self.error:
            raise self.error


def echo(client, request):
    """Answer with the request reversed, as raw bytes."""
    client.respond(request[::-1])


@pytest.fixture
def served(channel_name):
    """(server, client_thread): a Server on a fresh channel and an echoing client thread.
    The test may replace client_thread.handler."""
    server = shmemaphore.Server(channel_name)
    peer = ThreadClient(channel_name, echo)
    try:
        yield server, peer
    finally:
        try:
            server.close()
        except BufferError:  # a failed test still holds a view: stop the peer instead
            peer.stop()
        peer.join()


def python_peer(*args: str, **kwargs) -> subprocess.Popen:
    """A Python process running tests/peer.py with `args`."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(__file__))
    return subprocess.Popen([sys.executable, os.path.join(here, "peer.py"), *args], env=env, **kwargs)
