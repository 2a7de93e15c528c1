"""Share NumPy n-dimensional arrays between processes with zero copies.

>>> import numpy as np, ndshare
>>> a = ndshare.array(np.arange(6.0).reshape(2, 3))
>>> type(a).__name__, a.sum()
('SharedArray', 15.0)
"""

from __future__ import annotations

from . import _dask, _loky, parallel
from ._array import (
    SharedArray,
    array,
    attach,
    empty,
    empty_like,
    full,
    from_handle,
    full_like,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from ._io import asarray, load, save
from ._ndshare import FormatError, UnreachableError
from ._kept import release_kept
from ._reduce import by_reference
from ._registry import ArrayInfo, Attacher, info, list_arrays, unlink
from ._sync import Barrier, Event, LockOwnerDied
from ._ring import Ring, RingClosed, RingItem, RingSlot, attach_ring
from . import atomic

#: ``ndshare.list()``: the named arrays of the machine.
list = list_arrays  # noqa: A001 - the API DESIGN.md fixes

_dask.install()
_loky.install()

from importlib.metadata import version as _version

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
