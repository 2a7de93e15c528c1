"""Reaching the segment a reference names, in the process that unpickles it.

A reference carries a locator (a name, and the sender's ``/proc/<pid>/fd/<n>``)
or the segment's descriptor itself (see ``_reduce``). Either way the
receiver checks that it reached the very file ``(dev, ino)`` that was sent,
reuses its mapping of that file if it has one (``_mapped``), and otherwise
records the new mapping as arrived, to be kept for a while after its last
use (``_kept``). Failing that, :class:`ndshare.UnreachableError` says why
each way failed.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import numpy as np

from . import _fdserver
from ._mapped import arrived, lookup, remember
from ._ndshare import Segment, UnreachableError


def describe(name: Optional[str], dtype: Any, shape: Any) -> str:
    """The array a reference names, for error messages."""
    what = f"shared array {name!r}" if name is not None else "anonymous shared array"
    return f"{what} ({np.dtype(dtype)}, shape {tuple(shape)})"


def open_located(locator: Tuple[Any, ...], readonly: bool, what: str) -> Segment:
    """The segment a locator names: this process's mapping of it, or a new
    one (recorded as arrived)."""
    file_id, sender_readonly = locator[0], locator[4]
    seg = lookup(tuple(file_id), readonly or sender_readonly)
    return seg if seg is not None else arrived(_open_located(locator, readonly, what))


def _open_located(locator: Tuple[Any, ...], readonly: bool, what: str) -> Segment:
    file_id, name, pid, fd, sender_readonly = locator
    readonly = readonly or sender_readonly
    seg = lookup(tuple(file_id), readonly)
    if seg is not None:
        return seg
    return remember(Segment.from_locator(name, file_id[0], file_id[1], pid, fd, what, readonly=readonly))


def open_sent_descriptor(dupfd: Any, file_id: Tuple[int, int], readonly: bool, what: str) -> Segment:
    """The segment whose descriptor was sent (``multiprocessing``'s route):
    this process's mapping of it, or a new one (recorded as arrived)."""
    try:
        fd = dupfd.detach()
    except OSError as e:
        sender = getattr(dupfd, "pid", "?")
        raise UnreachableError(
            f"cannot reach the {what} sent by process {sender}: {e}. "
            f"The sender exited more than {_fdserver.EXIT_WAIT_SECONDS:g} s before this "
            "reference was unpickled, or it was unpickled twice"
        ) from None
    try:
        seg = lookup(tuple(file_id), readonly)  # type: ignore[arg-type]
        if seg is None:
            seg = arrived(Segment.from_fd(fd, readonly=readonly))
    finally:
        os.close(fd)
    return seg
