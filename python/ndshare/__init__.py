"""Share NumPy n-dimensional arrays between processes with zero copies.

>>> import numpy as np, ndshare
>>> a = ndshare.array(np.arange(6.0).reshape(2, 3))
>>> type(a).__name__, float(a.sum())
('SharedArray', 15.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _array, _dask, _io, _loky, atomic, parallel  # noqa: F401 - ndshare.parallel is public
from ._array import SharedArray, attach, from_handle
from ._io import load, save
from ._kept import release_kept
from ._ndshare import FormatError, UnreachableError
from ._reduce import by_reference
from ._registry import ArrayInfo, Attacher, info, list_arrays, unlink
from ._ring import Ring, RingClosed, RingItem, RingSlot, attach_ring
from ._sync import Barrier, Event, LockOwnerDied

if TYPE_CHECKING:
    from ._typing import Array, AsArray, Full, FullLike, Like, NewArray

# The constructors, typed by the dtype they make (see ``_typing``).
array: Array = _array.array
asarray: AsArray = _io.asarray
empty: NewArray = _array.empty
zeros: NewArray = _array.zeros
ones: NewArray = _array.ones
full: Full = _array.full
empty_like: Like = _array.empty_like
zeros_like: Like = _array.zeros_like
ones_like: Like = _array.ones_like
full_like: FullLike = _array.full_like

#: ``ndshare.list()``: the named arrays of the machine.
list = list_arrays  # noqa: A001 - numpy-like name, as in `ndshare list`

from importlib.metadata import version as _version  # noqa: E402 - after the registrations above

_dask.install()
_loky.install()

__version__ = _version("ndshare")

__all__ = [
    "ArrayInfo",
    "Attacher",
    "Barrier",
    "Event",
    "FormatError",
    "LockOwnerDied",
    "Ring",
    "RingClosed",
    "RingItem",
    "RingSlot",
    "SharedArray",
    "UnreachableError",
    "array",
    "asarray",
    "atomic",
    "attach",
    "attach_ring",
    "by_reference",
    "empty",
    "empty_like",
    "full",
    "from_handle",
    "full_like",
    "info",
    "list",
    "load",
    "ones",
    "ones_like",
    "release_kept",
    "save",
    "unlink",
    "zeros",
    "zeros_like",
]
