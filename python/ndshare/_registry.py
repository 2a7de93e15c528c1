"""The named arrays of the machine, and what their headers say."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Dict, List, Optional, Tuple

from . import _ndshare


@dataclasses.dataclass(frozen=True)
class Attacher:
    """A process named in an array's attacher table (``ArrayInfo.attachers``).

    Attributes
    ----------
    slot : int
        Its entry in the table.
    pid : int
        Its process id.
    start_ticks : int
        Its start time, in clock ticks since boot.
    alive : bool
        Whether it was alive when the table was read.
    claiming : bool
        Whether it was still writing its entry.
    kept : bool
        Whether it no longer uses the array but keeps it mapped for up to
        ``NDSHARE_KEEP_SECONDS`` after its last use.

    Examples
    --------
    >>> import os, ndshare
    >>> with ndshare.zeros(1, name=f"attacher-example-{os.getpid()}") as a:
    ...     [(t.pid == os.getpid(), t.alive) for t in a.info().attachers]
    [(True, True)]
    """

    slot: int
    pid: int
    #: Start time of the process in clock ticks since boot: with the pid, it
    #: tells a live process from a later one that reuses its pid.
    start_ticks: int
    #: Whether the process was alive when the table was read.
    alive: bool
    #: The process was still writing its entry.
    claiming: bool = False
    #: The process no longer uses the array but keeps it mapped for up to
    #: ``NDSHARE_KEEP_SECONDS`` after its last use (``ndshare.release_kept()``
    #: in that process lets go at once).
    kept: bool = False


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """What a shared array's header and attacher table say (see
    ``ndshare.list``, ``ndshare.info`` and ``SharedArray.info``); the same
    fields as ``ndshare info --json``. Its repr shows ``mode`` in octal.

    Attributes
    ----------
    name : str or None
        The array's name; ``None`` for an anonymous array.
    shape, strides : tuple of int
        As numpy's (``None`` for an unreadable header, as every field
        below but ``name``, ``error``, ``path``, ``status``).
    dtype : str
        The dtype descriptor, e.g. ``'<f8'``.
    itemsize, nbytes, header_bytes : int
        Bytes per element, of data, of the header before it.
    order : str or None
        ``'C'``, ``'F'``, or ``None`` if neither contiguous order.
    format_version : str
        The segment format's version (docs/format.md).
    created : datetime.datetime
        When it was created (UTC).
    creator_pid, creator_start_ticks : int
        The creating process (the start time tells a reused pid apart).
    creator_alive : bool
        Whether the creator still runs.
    attachers : tuple of Attacher
        Every entry of the attacher table.
    live_attachers, unregistered_attachers : int
        Live processes the table names, and those that found it full.
    path : str or None
        The file, ``/dev/shm/ndshare.<name>``; ``None`` if anonymous.
    mode : int or None
        Permission bits of the file (an int; shown as ``0o600``).
    uid : int or None
        The file's owner.
    status, status_detail : str or None
        "in use", "creator alive", "unverifiable", "stale", "unusable" or
        "unlinked", and the same in a sentence (see below).
    error, reason : str or None
        Why the header could not be read; why :func:`ndshare.attach`
        refuses the file.
    backing, page_size : str or int or None
        The memory this process's mapping uses and its page size
        (``SharedArray.info`` only).
    kind : str or None
        ``'array'`` or ``'ring'`` (a :class:`ndshare.Ring`: then ``dtype``
        and ``shape`` are those of its bytes, and ``ring`` says the rest).
    ring : dict or None
        For a ring: ``delivery`` (``'queue'``, ``'broadcast'`` or
        ``'overwrite'``), ``capacity``, ``item_dtype``, ``item_shape`` and
        the counters ``put``, ``got``, ``dropped``, ``abandoned``,
        ``lost``, ``subscribers``, ``producers``, ``closed``, read when the
        report was made; else None.

    Examples
    --------
    >>> import os, ndshare
    >>> with ndshare.zeros((2, 3), name=f"info-example-{os.getpid()}") as a:
    ...     i = a.info()
    ...     i.shape, i.dtype, i.nbytes, oct(i.mode), i.status
    ((2, 3), '<f8', 48, '0o600', 'in use')
    """

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
    #: "array" or "ring" (None: unreadable header).
    kind: Optional[str] = None
    #: A ring's delivery, item and counters (see above); None for an array.
    ring: Optional[Dict[str, Any]] = dataclasses.field(default=None, hash=False)
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

    def __repr__(self) -> str:
        # The dataclass's repr, with the permission bits in octal as ls and
        # `ndshare info` show them.
        fields = (
            f"{f.name}={oct(v) if f.name == 'mode' and isinstance(v, int) else repr(v)}"
            for f in dataclasses.fields(self)
            if f.repr
            for v in (getattr(self, f.name),)
        )
        return f"{type(self).__name__}({', '.join(fields)})"


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
    """The named arrays of this machine, sorted by name: what ``ndshare
    list`` shows.

    Every file under an ndshare name in ``/dev/shm`` is listed, with what
    its header and attacher table say (name, shape, dtype, bytes, creator,
    whether it is alive, who maps it, and a status: "in use", "stale" for
    one that ``ndshare gc`` would remove, "unusable" for a file that
    :func:`ndshare.attach` refuses...). Anonymous arrays have no name and
    are not listed.

    Returns
    -------
    list of ArrayInfo
        One description per name.

    Examples
    --------
    >>> import os, ndshare
    >>> name = f"list-example-{os.getpid()}"
    >>> a = ndshare.zeros(3, name=name)
    >>> [(i.shape, i.creator_alive) for i in ndshare.list() if i.name == name]
    [((3,), True)]
    >>> ndshare.unlink(name)
    """
    return [_info(d) for d in _ndshare.list_named()]


# Shown as `ndshare.list` (help, tracebacks); `list_arrays` keeps the builtin
# usable in this module.
list_arrays.__name__ = list_arrays.__qualname__ = "list"


def info(name: str) -> ArrayInfo:
    """What the header and attacher table of the named array ``name`` say,
    read now. A file that :func:`ndshare.attach` would refuse (corrupt,
    truncated, not an array) is described with status "unusable" and the
    ``reason``.

    Parameters
    ----------
    name : str
        The array's name.

    Returns
    -------
    ArrayInfo
        The description; ``ndshare info NAME`` prints the same.

    Raises
    ------
    FileNotFoundError
        There is no such name.
    ValueError
        ``name`` is not a valid name.

    Examples
    --------
    >>> import os, ndshare
    >>> name = f"info-example-{os.getpid()}"
    >>> a = ndshare.zeros((2, 2), dtype="i4", name=name, mode=0o640)
    >>> i = ndshare.info(name)
    >>> i.shape, i.dtype, oct(i.mode), i.live_attachers
    ((2, 2), '<i4', '0o640', 1)
    >>> ndshare.unlink(name)
    """
    return _info(_ndshare.info(name))


def segment_info(seg: _ndshare.Segment) -> ArrayInfo:
    """The same for a mapped segment (anonymous ones included); status
    "unlinked", and no path, if the name it was mapped by no longer names it."""
    return dataclasses.replace(_info(seg.describe()), backing=seg.backing, page_size=seg.page_size)


def unlink(name: str) -> None:
    """Removes the name ``name``, as ``os.unlink`` removes a file.

    Processes that map the array keep it; its memory goes when the last of
    them drops it. The name can be given to a new array at once; a handle
    taken from the old one never opens the new one.

    Parameters
    ----------
    name : str
        The array's name.

    Returns
    -------
    None

    Raises
    ------
    FileNotFoundError
        There is no such name.
    PermissionError
        The name belongs to another user.

    Examples
    --------
    >>> import os, ndshare
    >>> name = f"unlink-example-{os.getpid()}"
    >>> a = ndshare.ones(3, name=name)
    >>> ndshare.unlink(name)
    >>> float(a.sum())  # this process still maps it
    3.0
    >>> ndshare.attach(name)
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...
    """
    _ndshare.unlink(name)
