"""The named arrays of the machine."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, List, Optional, Tuple

from . import _ndshare


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """What a named array's header says (see ``ndshare.list``)."""

    name: str
    shape: Optional[Tuple[int, ...]]
    dtype: Optional[str]
    nbytes: Optional[int]
    created: Optional[datetime.datetime]
    creator_pid: Optional[int]
    creator_alive: Optional[bool]
    #: Why the header could not be read (permissions, corruption), else None.
    error: Optional[str] = None


def _info(d: dict[str, Any]) -> ArrayInfo:
    if "error" in d:
        return ArrayInfo(d["name"], None, None, None, None, None, None, d["error"])
    created = datetime.datetime.fromtimestamp(d["created_ns"] / 1e9, tz=datetime.timezone.utc)
    return ArrayInfo(
        d["name"], tuple(d["shape"]), d["dtype"], d["nbytes"], created, d["creator_pid"], d["creator_alive"]
    )


def list_arrays() -> List[ArrayInfo]:
    """Every named array on this machine, sorted by name."""
    return [_info(d) for d in _ndshare.list_named()]


def unlink(name: str) -> None:
    """Removes the name ``name``. Processes that map the array keep it; its
    memory goes when the last of them drops it. ``FileNotFoundError`` if
    there is no such name."""
    _ndshare.unlink(name)
