"""Hands file descriptors to other processes of the same user, on request.

A segment crosses through multiprocessing as an *offer*: the sender keeps a
duplicate of the descriptor and a random key; the receiver, when it unpickles
the reference, connects to the sender's server and gets the descriptor with
``SCM_RIGHTS``. Like ``multiprocessing.resource_sharer``, with two
differences that matter here:

* the server listens on an abstract Unix socket (Linux), so there is no file
  for an exit handler to remove while offers are still pending, and a process
  that exits waits, at most ``EXIT_WAIT_SECONDS``, until its offers are taken
  — after multiprocessing has flushed its queues, since ``Queue.put`` pickles
  in a feeder thread;
* a peer is checked by its credentials (``SO_PEERCRED``: the same uid) and
  the 128-bit key, without a challenge-response round trip.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import threading
import time
from multiprocessing import util
from typing import Dict, Optional, Tuple

#: Longest a process waits at exit for receivers to take its offers.
EXIT_WAIT_SECONDS = 10.0
#: Longest a receiver waits for a sender's answer.
FETCH_TIMEOUT_SECONDS = 30.0

_KEY_LEN = 16
Address = bytes


class _Server:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(b"\0ndshare-fd-" + secrets.token_hex(16).encode())
        self.sock.listen(256)
        self.address: Address = self.sock.getsockname()
        self.offers: Dict[bytes, int] = {}
        self.sending = 0  # offers taken, their descriptor not yet sent
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._serve, name="ndshare-fd-server", daemon=True)
        self.thread.start()

    def offer(self, fd: int) -> bytes:
        key = secrets.token_bytes(_KEY_LEN)
        dup = os.dup(fd)
        with self.cond:
            self.offers[key] = dup
        return key

    def _serve(self) -> None:
        uid = os.getuid()
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed after fork
            with conn:
                try:
                    conn.settimeout(FETCH_TIMEOUT_SECONDS)
                    cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                    if struct.unpack("3i", cred)[1] != uid:
                        continue
                    key = _recv_exact(conn, _KEY_LEN)
                    with self.cond:
                        fd = self.offers.pop(key, None)
                        self.sending += fd is not None
                    if fd is None:
                        conn.sendall(b"-")
                        continue
                    try:
                        socket.send_fds(conn, [b"+"], [fd])
                    finally:
                        os.close(fd)
                        with self.cond:
                            self.sending -= 1
                            self.cond.notify_all()
                except OSError:
                    continue

    def wait_until_taken(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.offers or self.sending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)

    def forget_after_fork(self) -> None:
        """In a forked child: the offers and the socket are the parent's."""
        for fd in self.offers.values():
            os.close(fd)
        self.offers.clear()
        self.sock.close()


_server: Optional[_Server] = None
_lock = threading.Lock()


def _at_exit() -> None:
    server = _server
    if server is not None:
        server.wait_until_taken(EXIT_WAIT_SECONDS)


def _after_fork_in_child() -> None:
    global _server, _lock
    # Another thread of the parent may have held the lock at the fork; in
    # the child that thread does not exist and would never release it.
    _lock = threading.Lock()
    if _server is not None:
        _server.forget_after_fork()
        _server = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _register_exit_hook(_: object = None) -> None:
    # After multiprocessing's queues are flushed (their feeder threads are
    # joined at exitpriority -5). Registered up front, not at the first offer:
    # ``Queue.put`` pickles in the feeder thread, which may make the first
    # offer while the exit handlers are already running, too late to be run.
    util.Finalize(None, _at_exit, exitpriority=-10)


class _HookOwner:
    """Keeps the after-fork registration alive (multiprocessing holds it weakly)."""


_hook_owner = _HookOwner()
_register_exit_hook()
# multiprocessing clears the exit handlers in every new Process (fork, spawn
# and forkserver alike), then runs these callbacks.
util.register_after_fork(_hook_owner, _register_exit_hook)


def offer(fd: int) -> Tuple[Address, bytes]:
    """Offers a duplicate of ``fd`` to one receiver; returns where and how to
    fetch it."""
    global _server
    with _lock:
        if _server is None:
            _server = _Server()
        server = _server
    return server.address, server.offer(fd)


def fetch(address: Address, key: bytes) -> int:
    """Takes an offered descriptor. ``ConnectionError`` if the sender is gone
    or the offer was taken already."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as conn:
        conn.settimeout(FETCH_TIMEOUT_SECONDS)
        conn.connect(address)
        conn.sendall(key)
        msg, fds, _, _ = socket.recv_fds(conn, 1, 1)
        if msg != b"+" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ConnectionError("the sending process no longer offers this descriptor")
        return fds[0]


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf
