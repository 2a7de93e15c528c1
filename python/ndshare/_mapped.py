"""The segments this process maps: one mapping per file and access mode,
however many views of it arrive."""

from __future__ import annotations

import os
import weakref
from typing import Optional, Tuple

from ._ndshare import Segment

_FileKey = Tuple[Tuple[int, int], bool]
_mapped: "weakref.WeakValueDictionary[_FileKey, Segment]" = weakref.WeakValueDictionary()
#: Every named segment this process maps: a forked child registers in their
#: attacher tables, since it maps them too.
_named: "weakref.WeakSet[Segment]" = weakref.WeakSet()


def remember(seg: Segment) -> Segment:
    """Records a segment this process maps, so later arrivals reuse it."""
    _mapped[(seg.file_id, seg.writable)] = seg
    if seg.named:
        _named.add(seg)
    return seg


def lookup(file_id: Tuple[int, int], readonly: bool) -> Optional[Segment]:
    """A mapping of the file this process already has, if any."""
    seg = _mapped.get((file_id, True))
    if seg is None and readonly:
        seg = _mapped.get((file_id, False))
    return seg


def _register_forked_child() -> None:
    for seg in list(_named):
        seg.register_after_fork()


os.register_at_fork(after_in_child=_register_forked_child)
