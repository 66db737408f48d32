"""Two processes: this binding against the Swift tool, the C examples, a hostile
peer and the conformance runner (found through environment variables, see
conftest.py; skipped when missing)."""

import os
import subprocess
import threading

import numpy as np
import pytest

import shmemaphore
from conftest import PEER_TIMEOUT as T, ThreadClient, executable_from_env
from imagefiles import pattern, write_tga

RAW = b"raw bytes \x00\xff"
IMAGES = {"a": pattern(7, 33, 3, 1), "g": pattern(4, 5, 1, 2), "rgba": pattern(9, 16, 4, 3)}


def _client_command(kind, channel, folder):
    if kind == "c":
        return [executable_from_env("SHMEMAPHORE_C_CLIENT"), "--channel", channel, "--dir", folder,
                "--attach-timeout", str(T)]
    return [executable_from_env("SHMEMAPHORE_TOOL"), "client", "--channel", channel, "--dir", folder,
            "--attach-timeout", str(T)]


def _server_command(kind, channel, requests, count):
    if kind == "c":
        return [executable_from_env("SHMEMAPHORE_C_SERVER"), "--channel", channel, "--requests", requests,
                "--count", str(count), "--timeout", str(T)]
    return [executable_from_env("SHMEMAPHORE_TOOL"), "server", "--channel", channel, "--requests", requests,
            "--count", str(count), "--timeout", str(T)]


@pytest.mark.parametrize("kind", ["c", "swift"])
def test_python_server_with_other_client(kind, channel_name, tmp_path):
    for name, img in IMAGES.items():
        write_tga(tmp_path / f"{name}.tga", img)
    command = _client_command(kind, channel_name, str(tmp_path))
    with shmemaphore.Server(channel_name) as server:
        peer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(3):
                for name, img in IMAGES.items():
                    r = server.request(name, timeout=T)
                    assert r.kind is shmemaphore.Kind.IMAGE
                    assert np.array_equal(r.to_numpy(), img), name
            for request, code in [("zebra", 1), ("", 2), ("../a", 2), (".hidden", 2), ("x" * 300, 2)]:
                with pytest.raises(shmemaphore.PeerError) as info:
                    server.request(request, timeout=T)
                assert info.value.peer_code == code, request
            r = server.request("a", timeout=T)
            r.save(tmp_path / "out.png")
        except BaseException:
            peer.kill()
            raise
    _, err = peer.communicate(timeout=T)
    assert peer.returncode == 0, err


def _answer(c, req):
    if req == b"a":
        c.respond_image(IMAGES["a"])
    elif req == b"b":
        c.respond(RAW)
    elif req == b"z":
        with c.reserve(0):
            pass
    elif req == b"":
        c.respond_error(2, "empty")
    else:
        c.respond_error(1, "not found")


@pytest.mark.parametrize("kind", ["c", "swift"])
def test_other_server_with_python_client(kind, channel_name, tmp_path):
    requests = tmp_path / "requests"
    requests.write_bytes(b"a\nb\nnope\n\nz\n")
    command = _server_command(kind, channel_name, str(requests), 12)
    peer = ThreadClient(channel_name, _answer)
    server = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=T * 2)
    peer.join()
    assert server.returncode == 0, server.stderr
    lines = [line.split() for line in server.stdout.splitlines()]
    assert len(lines) == 12
    fnv = shmemaphore.fnv1a64
    order = [b"a", b"b", b"nope", b"", b"z"]
    for i, words in enumerate(lines, start=1):
        req = order[(i - 1) % len(order)]
        assert words[:2] == [str(i), str(len(req))]
        if req == b"a":
            assert words[2:8] == ["image", "33", "7", "3", str(IMAGES["a"].nbytes), f"{fnv(IMAGES['a']):016x}"]
        elif req == b"b":
            assert words[2:5] == ["bytes", "12", f"{fnv(RAW):016x}"]
        elif req == b"z":
            assert words[2:5] == ["bytes", "0", f"{fnv(b''):016x}"]
        else:
            assert words[2:4] == ["error", "2" if req == b"" else "1"]


@pytest.mark.parametrize("untrusted", [True, False])
def test_truncating_client_never_crashes_the_server(channel_name, untrusted):
    """hostile_peer answers every request with 0 bytes and keeps truncating DATA."""
    hostile = executable_from_env("SHMEMAPHORE_HOSTILE_PEER")
    outcomes = {}
    with shmemaphore.Server(channel_name, untrusted_peer=untrusted) as server:
        peer = subprocess.Popen([hostile, "truncating-client", channel_name, "1500"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while peer.poll() is None:
                try:
                    r = server.request(b"q", timeout=0.5)
                except (shmemaphore.ProtocolError, shmemaphore.Timeout, shmemaphore.PeerGone,
                        shmemaphore.SysError) as e:
                    outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
                    continue
                # Never more than the metadata promises.
                assert r.nbytes == len(r.data) == len(r.tobytes())
                outcomes["ok"] = outcomes.get("ok", 0) + 1
        finally:
            peer.kill()
            peer.wait()
    assert outcomes, "no exchange happened"


# The conformance pairings of the Python peer (python -m shmemaphore.conformance)
# with every other implementation are ctest's matrix (conformance-python-*,
# conformance-*-python; CMakeLists.txt), not repeated here.
