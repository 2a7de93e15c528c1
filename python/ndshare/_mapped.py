"""The segments this process maps: one mapping per file and access mode,
however many views of it arrive, and whether any view of it is alive.

Every view of a segment made here (``_array.view_of_segment``) has the same
numpy base while any of them lives (``base_of``), a plain ndarray over the
segment; numpy keeps it alive from every view, derived views and plain
ndarray views of the memory included. When the last view goes, so does that
base: a segment that arrived by a reference then goes to ``_kept``, which
keeps it mapped for a bounded time so that the next arrival reuses it.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Optional, Tuple

import numpy as np

from . import _kept
from ._ndshare import Segment

_FileKey = Tuple[Tuple[int, int], bool]
_mapped: weakref.WeakValueDictionary[_FileKey, Segment] = weakref.WeakValueDictionary()
#: Every named segment this process maps: a forked child registers in their
#: attacher tables, since it maps them too.
_named: weakref.WeakSet[Segment] = weakref.WeakSet()
#: The numpy base of the live views of each segment.
_bases: weakref.WeakValueDictionary[Segment, np.ndarray[Any, Any]] = weakref.WeakValueDictionary()
#: Segments that arrived by a reference from another process: kept for a
#: while after their last use (``_kept``).
_arrived: weakref.WeakSet[Segment] = weakref.WeakSet()


def remember(seg: Segment) -> Segment:
    """Records a segment this process maps, so later arrivals reuse it."""
    _mapped[(seg.file_id, seg.writable)] = seg
    if seg.named:
        _named.add(seg)
    return seg


def arrived(seg: Segment) -> Segment:
    """Records a segment newly mapped for a reference from another process:
    it stays mapped for a while after its last use (see ``_kept``)."""
    _arrived.add(remember(seg))
    return seg


def lookup(file_id: Tuple[int, int], readonly: bool) -> Optional[Segment]:
    """A mapping of the file this process already has, if any."""
    seg = _mapped.get((file_id, True))
    if seg is None and readonly:
        seg = _mapped.get((file_id, False))
    return seg


def base_of(seg: Segment) -> np.ndarray[Any, Any]:
    """The numpy base for a new view of ``seg``: the one its live views
    share, or a new one if none lives (then the segment is in use again)."""
    base = _bases.get(seg)
    if base is None:
        base = np.asarray(seg)
        _bases[seg] = base
        if seg in _arrived:
            _kept.take_back(seg)
            weakref.finalize(base, _last_view_gone, seg).atexit = False
    return base


def _last_view_gone(seg: Segment) -> None:
    # Two threads may each have made a base for the same segment: only when
    # none is left is the segment unused.
    if _bases.get(seg) is None:
        _kept.keep(seg)


def _register_forked_child() -> None:
    for seg in list(_named):
        seg.register_after_fork()


os.register_at_fork(after_in_child=_register_forked_child)
