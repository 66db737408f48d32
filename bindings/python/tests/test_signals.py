"""Ctrl-C, interrupt() and close() from another thread end waits."""

import os
import signal
import threading
import time

import pytest

import shmemaphore
from conftest import PEER_TIMEOUT as T, python_peer

import subprocess


def _sigint_latency(args, server_name=None):
    """Start peer.py `args`, SIGINT it once it waits; return seconds from the kill to its KeyboardInterrupt."""
    peer = python_peer(*args, stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout.readline().strip() == "ready"
        # "ready" comes just before the wait starts: a signal that lands before
        # it sleeps is caught within one wait slice, so no sleep is needed here.
        time.sleep(0.2)  # let it reach the kernel sleep: the case that measures the EINTR path
        sent = time.monotonic()
        peer.send_signal(signal.SIGINT)
        out, _ = peer.communicate(timeout=T)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    assert peer.returncode == 0, out
    word, when = out.split()[:2]
    assert word == "KeyboardInterrupt"
    return float(when) - sent


def test_sigint_ends_server_request_wait(channel_name):
    latency = _sigint_latency(["wait-request", channel_name])
    print(f"\nSIGINT -> KeyboardInterrupt in request(timeout=None): {latency * 1000:.2f} ms")
    assert latency < T


def test_sigint_ends_client_receive_wait(channel_name):
    with shmemaphore.Server(channel_name):
        latency = _sigint_latency(["wait-receive", channel_name])
    print(f"\nSIGINT -> KeyboardInterrupt in receive(timeout=None): {latency * 1000:.2f} ms")
    assert latency < T


def test_sigint_before_the_wait_sleeps_is_seen_within_a_slice(channel_name):
    # No pause: the signal may land before the library sleeps in the kernel.
    peer = python_peer("wait-request", channel_name, stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout.readline().strip() == "ready"
        peer.send_signal(signal.SIGINT)
        out, _ = peer.communicate(timeout=T)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    assert peer.returncode == 0 and out.startswith("KeyboardInterrupt"), out


def test_signal_handler_that_does_not_raise_lets_the_wait_go_on(channel_name):
    """A handler that returns (SIGUSR1 here) ends the C wait; the binding waits on."""
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda s, f: seen.append(s))
    try:
        with shmemaphore.Server(channel_name) as server:
            def later():
                time.sleep(0.2)
                os.kill(os.getpid(), signal.SIGUSR1)
                with shmemaphore.Client(channel_name, attach_timeout=T) as c:
                    c.respond(c.receive(timeout=T))

            t = threading.Thread(target=later)
            t.start()
            assert server.request(b"still here", timeout=T).tobytes() == b"still here"
            t.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert seen == [signal.SIGUSR1]


def test_interrupt_from_another_thread(channel_name):
    with shmemaphore.Server(channel_name) as server:
        with shmemaphore.Client(channel_name, attach_timeout=T) as client:
            errors = []

            def wait():
                try:
                    client.receive(timeout=None)
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

            t = threading.Thread(target=wait)
            t.start()
            time.sleep(0.1)
            client.interrupt()
            t.join(T)
            assert not t.is_alive()
            assert len(errors) == 1 and isinstance(errors[0], shmemaphore.Interrupted), errors
            assert errors[0].code == -4
            # The channel goes on.
            server.send_request(b"go")
            assert client.receive(timeout=T) == b"go"
            client.respond(b"ok")
            assert server.receive_response(timeout=T).tobytes() == b"ok"


def test_interrupt_before_the_wait_ends_the_next_wait(channel_name):
    with shmemaphore.Server(channel_name) as server:
        server.interrupt()
        with pytest.raises(shmemaphore.Interrupted):
            server.request(b"x", timeout=T)
        with pytest.raises(shmemaphore.Timeout):
            server.request(b"x", timeout=0.01)  # one interrupt, one wait


def test_interrupt_from_a_signal_handler(channel_name):
    with shmemaphore.Server(channel_name) as server:
        old = signal.signal(signal.SIGALRM, lambda s, f: server.interrupt())
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            with pytest.raises(shmemaphore.Interrupted):
                server.request(b"x", timeout=None)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def test_close_from_another_thread_ends_the_wait(channel_name):
    server = shmemaphore.Server(channel_name)
    errors = []

    def wait():
        try:
            server.request(b"x", timeout=None)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    server.close()
    t.join(T)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ValueError) and "closed" in str(errors[0])
    assert server.closed
    assert not [c for c in shmemaphore.list_channels() if c.name == channel_name]


def test_sigint_during_client_attach(channel_name):
    code = ("import shmemaphore, sys, time\n"
            "print('ready', flush=True)\n"
            "try:\n"
            f"    shmemaphore.Client({channel_name!r}, attach_timeout=None)\n"
            "except KeyboardInterrupt:\n"
            "    print('KeyboardInterrupt', flush=True)\n")
    import sys
    peer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        peer.send_signal(signal.SIGINT)
        out, _ = peer.communicate(timeout=T)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    assert out.strip() == "KeyboardInterrupt"


def test_signal_handler_may_close_the_channel_it_interrupts(channel_name):
    server = shmemaphore.Server(channel_name)
    old = signal.signal(signal.SIGALRM, lambda s, f: server.close())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(ValueError, match="closed"):
            server.request(b"x", timeout=None)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert server.closed
    assert not [c for c in shmemaphore.list_channels() if c.name == channel_name]


def test_signal_handler_calling_the_busy_channel_gets_an_error_not_a_deadlock(channel_name):
    errors = []

    def handler(s, f):
        try:
            server.send_request(b"from the handler")
        except RuntimeError as e:
            errors.append(e)
        server.interrupt()

    with shmemaphore.Server(channel_name) as server:
        old = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            with pytest.raises(shmemaphore.Interrupted):
                server.request(b"x", timeout=None)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    assert len(errors) == 1 and "same thread" in str(errors[0])
