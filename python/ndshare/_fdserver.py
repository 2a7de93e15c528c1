"""Hands file descriptors to other processes of the same user, on request.

A segment crosses through multiprocessing as an *offer*: the sender keeps a
duplicate of the descriptor and a random key; the receiver, when it unpickles
the reference, connects to the sender's server and gets the descriptor with
``SCM_RIGHTS``. Like ``multiprocessing.resource_sharer``, with three
differences that matter here:

* the server listens on an abstract Unix socket (Linux), so there is no file
  for an exit handler to remove while offers are still pending, and a process
  that exits waits, at most ``EXIT_WAIT_SECONDS``, until its offers are taken
  — after multiprocessing has flushed its queues, since ``Queue.put`` pickles
  in a feeder thread;
* a peer is checked by its credentials (``SO_PEERCRED``: the same uid) and
  the 128-bit key, without a challenge-response round trip;
* the server runs in the Rust core (``ndshare::fdserver``) on threads that
  never take the GIL, so a receiver is served while the sender runs Python.

The server, its offers and its handling of ``fork`` (a child closes the
parent's offers and socket) are in the core; this module only ties its exit
wait into multiprocessing's exit handlers.
"""

from __future__ import annotations

from multiprocessing import util
from typing import Tuple

from ._ndshare import fd_fetch, fd_offer, fd_wait_until_taken

#: Longest a process waits at exit for receivers to take its offers.
EXIT_WAIT_SECONDS = 10.0

Address = bytes


def _at_exit() -> None:
    fd_wait_until_taken(EXIT_WAIT_SECONDS)


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
    return fd_offer(fd)


def fetch(address: Address, key: bytes) -> int:
    """Takes an offered descriptor. ``OSError`` if the sender is gone or the
    offer was taken already."""
    return fd_fetch(address, key)


def wait_until_taken(timeout: float) -> bool:
    """Waits, at most ``timeout`` seconds, until this process's offers are
    taken and sent; returns whether none is left."""
    return fd_wait_until_taken(timeout)
