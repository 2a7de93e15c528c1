"""A parent, a child and a grandchild that share one array, each ending as the
test tells it: run as ``python _tree.py CONTROL_DIR NBYTES [NAME]``.

The parent creates the array (anonymous, or named NAME) full of ones, starts
the child with the spawn method (the array travels by descriptor), and the
child starts the grandchild with fork (inherited, and passed again as an
argument). Each process then writes ``<role>.ready`` in CONTROL_DIR (its pid;
the parent also the memory's ``dev ino``) and waits for a file ``<role>``
holding how to end: ``exit`` (return normally), ``raise`` (an uncaught
exception) or ``_exit`` (``os._exit``, no clean-up at all). SIGTERM and
SIGKILL come from the test.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from typing import Any, Optional

import numpy as np

import ndshare


def _publish(ctl: str, role: str, text: str) -> None:
    tmp = os.path.join(ctl, f".{role}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(ctl, f"{role}.ready"))


def _order(ctl: str, role: str) -> str:
    path = os.path.join(ctl, role)
    deadline = time.monotonic() + 120
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return "_exit"  # the test is gone: do not linger
        time.sleep(0.01)
    with open(path) as f:
        return f.read().strip()


def _end(how: str) -> None:
    if how == "raise":
        raise RuntimeError("ending by an uncaught exception, as told")
    if how == "_exit":
        os._exit(0)
    assert how == "exit", how


def holder(role: str, arr: Any, ctl: str, extra: str = "") -> None:
    """Holds `arr`, starting the next generation first, until told to end."""
    kid: Optional[mp.process.BaseProcess] = None
    if role == "parent":
        kid = mp.get_context("spawn").Process(target=holder, args=("child", arr, ctl))
    elif role == "child":
        kid = mp.get_context("fork").Process(target=holder, args=("grandchild", arr, ctl))
    if kid is not None:
        kid.start()
    # Every process reads the memory the parent filled.
    if not (arr[0] == 1.0 and arr[-1] == 1.0):
        os._exit(3)
    _publish(ctl, role, f"{os.getpid()} {extra}".strip())
    _end(_order(ctl, role))


def main() -> None:
    ctl, nbytes = sys.argv[1], int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else None
    arr = ndshare.full(nbytes // 8, 1.0, dtype=np.float64, name=name)
    seg = arr.segment
    assert seg is not None
    dev, ino = seg.file_id
    holder("parent", arr, ctl, f"{dev} {ino}")


if __name__ == "__main__":
    main()
