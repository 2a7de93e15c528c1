"""The named arrays of the machine, and what their headers say."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, List, Optional, Tuple

from . import _ndshare


@dataclasses.dataclass(frozen=True)
class Attacher:
    """A process named in an array's attacher table."""

    slot: int
    pid: int
    #: Start time of the process in clock ticks since boot: with the pid, it
    #: tells a live process from a later one that reuses its pid.
    start_ticks: int
    #: Whether the process was alive when the table was read.
    alive: bool
    #: The process was still writing its entry.
    claiming: bool = False


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """What a shared array's header and attacher table say (see
    ``ndshare.list``, ``ndshare.info`` and ``SharedArray.info``); the same
    fields as ``ndshare info --json``."""

    name: Optional[str]
    shape: Optional[Tuple[int, ...]]
    dtype: Optional[str]
    nbytes: Optional[int]
    created: Optional[datetime.datetime]
    creator_pid: Optional[int]
    creator_alive: Optional[bool]
    #: Why the header could not be read (permissions, corruption), else None.
    error: Optional[str] = None
    #: The file in the shared-memory directory (None: anonymous).
    path: Optional[str] = None
    strides: Optional[Tuple[int, ...]] = None
    itemsize: Optional[int] = None
    #: "C", "F", or None if neither contiguous order.
    order: Optional[str] = None
    header_bytes: Optional[int] = None
    #: Bytes of the array's file: header and data (``nbytes`` is the data).
    file_bytes: Optional[int] = None
    format_version: Optional[str] = None
    creator_start_ticks: Optional[int] = None
    #: Every entry of the attacher table, live or left by a dead process. A
    #: process that received the array keeps its mapping, and so its entry,
    #: for up to ``NDSHARE_KEEP_SECONDS`` (10 s) after its last use
    #: (``ndshare.release_kept()`` lets go at once).
    attachers: Tuple[Attacher, ...] = ()
    #: Live processes the table names.
    live_attachers: int = 0
    #: Live processes that found the table full (counted, not named).
    unregistered_attachers: int = 0
    #: Permission bits of the file.
    mode: Optional[int] = None
    uid: Optional[int] = None
    #: "in use", "creator alive", "unverifiable" or "stale" (what ``ndshare
    #: gc`` removes); "unusable" for a file that :func:`ndshare.attach`
    #: refuses (see ``reason``); "unlinked" for an array this process maps
    #: whose name was removed (``SharedArray.info``); None for an anonymous
    #: array.
    status: Optional[str] = None
    #: The status in a sentence.
    status_detail: Optional[str] = None
    #: Why :func:`ndshare.attach` refuses the file (the message of the
    #: ``ndshare.FormatError`` it raises), for an "unusable" one; else None.
    reason: Optional[str] = None
    #: Whether the header marks the array as named (None: unreadable).
    named: Optional[bool] = None
    #: What memory backs an array this process maps (``SharedArray.info``):
    #: "memfd", "huge-tmpfs", "tmpfs", "hugetlb" or "shm"; else None. Not
    #: compared: it describes this process's mapping, not the array.
    backing: Optional[str] = dataclasses.field(default=None, compare=False)
    #: The page size of this process's mapping of it, in bytes; else None.
    page_size: Optional[int] = dataclasses.field(default=None, compare=False)

    @property
    def stale(self) -> bool:
        """Whether ``ndshare gc`` would remove it."""
        return self.status == "stale"

    @property
    def usable(self) -> bool:
        """Whether the file holds an array that can be attached (an
        unreadable one, e.g. another user's, may be usable by others)."""
        return self.status != "unusable"


def _info(d: dict[str, Any]) -> ArrayInfo:
    """The ``ArrayInfo`` of a report dict of the extension module (its
    values raw: the fields of ``ArrayInfo``, ``created_ns`` and
    ``format_version`` as ``(major, minor)``)."""
    status = {"status": d["status"], "status_detail": d["status_detail"], "reason": d["reason"]}
    if "dtype" not in d:
        return ArrayInfo(d["name"], None, None, None, None, None, None, d["error"], path=d["path"], **status)
    fields = {k: v for k, v in d.items() if k not in ("created_ns", "format_version", "attachers")}
    return ArrayInfo(
        created=datetime.datetime.fromtimestamp(d["created_ns"] / 1e9, tz=datetime.timezone.utc),
        format_version="%d.%d" % d["format_version"],
        attachers=tuple(Attacher(**a) for a in d["attachers"]),
        **fields,
    )


def list_arrays() -> List[ArrayInfo]:
    """Every named array on this machine, sorted by name."""
    return [_info(d) for d in _ndshare.list_named()]


def info(name: str) -> ArrayInfo:
    """What the header and attacher table of the named array ``name`` say,
    read now. ``FileNotFoundError`` if there is no such name. A file that
    :func:`ndshare.attach` would refuse (corrupt, truncated, not an array)
    is described with status "unusable" and the ``reason``."""
    return _info(_ndshare.info(name))


def segment_info(seg: _ndshare.Segment) -> ArrayInfo:
    """The same for a mapped segment (anonymous ones included); status
    "unlinked", and no path, if the name it was mapped by no longer names it."""
    return dataclasses.replace(_info(seg.describe()), backing=seg.backing, page_size=seg.page_size)


def unlink(name: str) -> None:
    """Removes the name ``name``. Processes that map the array keep it; its
    memory goes when the last of them drops it. ``FileNotFoundError`` if
    there is no such name."""
    _ndshare.unlink(name)
