"""Lock-free atomics on shared integer arrays, across processes.

Each operation is one hardware atomic instruction on the element in shared
memory (sequentially consistent), so any number of processes may update the
same elements at once without a lock::

    hist = ndshare.zeros(256, dtype="i8")
    ndshare.atomic.add(hist, 7, 1)                 # one element: returns the previous value
    ndshare.atomic.add(hist, values_uint8, 1)      # many, like np.add.at(hist, values_uint8, 1)

The array must be a :class:`ndshare.SharedArray` (or a view of one) of
``int32``, ``int64``, ``uint32`` or ``uint64`` in native byte order, writable,
with every element aligned to its size; anything else is a ``TypeError``.

``index`` is either a full index of one element (an int, or a tuple of
ints, one per dimension; negative ints count from the end), or an array of
indices (a tuple of arrays, one per dimension, for several dimensions), as
``np.add.at`` takes it; repeated indices apply repeatedly. All indices are
checked before any element changes (``IndexError``). Values must be
integers that fit the element type (``OverflowError`` otherwise); one value
applies to every index. Addition and subtraction wrap around, as numpy's
integer arithmetic does.

Mixing atomics with plain writes (``a[i] += 1``) to the same elements at the
same time is a race, as it is between threads.
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike

from ._array import SharedArray
from ._ndshare import atomic_many, atomic_one, atomic_ops

__all__ = ["add", "compare_exchange", "exchange", "load", "max", "min", "store", "sub"]

_INT64_MAX = np.iinfo(np.int64).max

# The core numbers its operations; these are the numbers of the ones below.
_OP = {name: code for code, name in enumerate(atomic_ops())}
_ADD, _SUB, _MAX, _MIN = _OP["add"], _OP["sub"], _OP["max"], _OP["min"]
_EXCHANGE, _STORE, _LOAD, _CAS = _OP["exchange"], _OP["store"], _OP["load"], _OP["compare_exchange"]


def _index_arrays(a: np.ndarray, index: Any) -> Tuple[List[np.ndarray], Tuple[int, ...]]:
    items: Sequence[Any] = index if isinstance(index, tuple) else (index,)
    if len(items) != a.ndim:
        raise IndexError(f"an array of {a.ndim} dimensions needs {a.ndim} index arrays, not {len(items)}")
    arrays = [np.asarray(i) for i in items]
    for arr in arrays:
        if arr.dtype.kind == "b":
            raise IndexError("boolean masks are not indices here: pass np.nonzero(mask)")
        if arr.dtype.kind not in "iu":
            raise IndexError(f"indices must be integers, not {arr.dtype}")
        if arr.dtype == np.uint64 and arr.size and arr.max() > _INT64_MAX:
            raise IndexError(f"index {arr.max()} is out of bounds")
    arrays = list(np.broadcast_arrays(*arrays))
    shape = arrays[0].shape if arrays else ()
    flat = [np.ascontiguousarray(arr, dtype=np.int64).reshape(-1) for arr in arrays]
    return flat, shape


def _values(value: ArrayLike, a: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
    """Values as a contiguous 1-D array of the element type: one value, or
    one per index; checked to fit; never sharing memory with the array."""
    v = np.asarray(value)
    if v.dtype.kind not in "iub":
        raise TypeError(f"atomic values must be integers, not {v.dtype}")
    if v.dtype != a.dtype and v.size:
        info = np.iinfo(a.dtype)
        lo, hi = v.min(), v.max()
        if lo < info.min or hi > info.max:
            raise OverflowError(f"values from {lo} to {hi} do not fit {a.dtype}")
    if v.size != 1:
        v = np.broadcast_to(v, shape)
    out = np.ascontiguousarray(v, dtype=a.dtype).reshape(-1)
    if isinstance(out, SharedArray) or np.may_share_memory(out, a):
        out = out.copy()
    return out.view(np.ndarray)


def _many(op: int, a: Any, index: Any, value: Any, new: Any, returns: bool) -> Any:
    """The ``np.add.at`` form: arrays of indices, prepared for the core."""
    flat, shape = _index_arrays(a, index)
    values = _values(value, a, shape)
    news = None if new is None else _values(new, a, shape)
    out = np.empty(flat[0].size if flat else 0, dtype=a.dtype) if returns else None
    atomic_many(op, a, flat, values, news, out)
    return None if out is None else out.reshape(shape)


# Each operation goes straight to the core with one element (the core checks
# `a`); arrays of indices come back as NotImplemented and are prepared by
# `_many`.
def add(a: SharedArray, index: Any, value: ArrayLike) -> Any:
    """``a[index] += value``, atomically (wrapping around on overflow).

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).
    value : int or array_like of int
        What to add: one value, or one per index.

    Returns
    -------
    int or None
        One element: its previous value. Arrays of indices: ``None``.

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import numpy as np, ndshare, ndshare.atomic
    >>> hist = ndshare.zeros(4, dtype="i8")
    >>> int(ndshare.atomic.add(hist, 2, 5))
    0
    >>> ndshare.atomic.add(hist, np.array([0, 0, 3]), 1)
    >>> hist
    SharedArray([2, 0, 5, 1])
    """
    r = atomic_one(_ADD, a, index, value)
    return _many(_ADD, a, index, value, None, False) if r is NotImplemented else r


def sub(a: SharedArray, index: Any, value: ArrayLike) -> Any:
    """``a[index] -= value``, atomically (wrapping around on overflow).

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).
    value : int or array_like of int
        What to subtract: one value, or one per index.

    Returns
    -------
    int or None
        One element: its previous value. Arrays of indices: ``None``.

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import ndshare, ndshare.atomic
    >>> stock = ndshare.full(2, 10, dtype="i4")
    >>> int(ndshare.atomic.sub(stock, 1, 3)), int(stock[1])
    (10, 7)
    """
    r = atomic_one(_SUB, a, index, value)
    return _many(_SUB, a, index, value, None, False) if r is NotImplemented else r


def max(a: SharedArray, index: Any, value: ArrayLike) -> Any:  # noqa: A001 - numpy's name
    """``a[index] = max(a[index], value)``, atomically.

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).
    value : int or array_like of int
        The value(s): one, or one per index.

    Returns
    -------
    int or None
        One element: its previous value. Arrays of indices: ``None``.

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import ndshare, ndshare.atomic
    >>> best = ndshare.zeros(1, dtype="u8")
    >>> int(ndshare.atomic.max(best, 0, 42)), int(ndshare.atomic.max(best, 0, 7)), int(best[0])
    (0, 42, 42)
    """
    r = atomic_one(_MAX, a, index, value)
    return _many(_MAX, a, index, value, None, False) if r is NotImplemented else r


def min(a: SharedArray, index: Any, value: ArrayLike) -> Any:  # noqa: A001 - numpy's name
    """``a[index] = min(a[index], value)``, atomically.

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).
    value : int or array_like of int
        The value(s): one, or one per index.

    Returns
    -------
    int or None
        One element: its previous value. Arrays of indices: ``None``.

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import ndshare, ndshare.atomic
    >>> low = ndshare.full(1, 100, dtype="i8")
    >>> int(ndshare.atomic.min(low, 0, 5)), int(low[0])
    (100, 5)
    """
    r = atomic_one(_MIN, a, index, value)
    return _many(_MIN, a, index, value, None, False) if r is NotImplemented else r


def exchange(a: SharedArray, index: Any, value: ArrayLike) -> Any:
    """``a[index] = value``, atomically, returning what it replaced.

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).
    value : int or array_like of int
        The new value(s).

    Returns
    -------
    int or numpy.ndarray
        The previous value (an array of them, shaped like the indices, for
        arrays of indices).

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import ndshare, ndshare.atomic
    >>> slot = ndshare.zeros(1, dtype="i8")
    >>> int(ndshare.atomic.exchange(slot, 0, 9)), int(slot[0])
    (0, 9)
    """
    r = atomic_one(_EXCHANGE, a, index, value)
    return _many(_EXCHANGE, a, index, value, None, True) if r is NotImplemented else r


def compare_exchange(a: SharedArray, index: Any, expected: ArrayLike, new: ArrayLike) -> Any:
    """Where ``a[index] == expected``, sets ``a[index] = new``, atomically.

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).
    expected : int or array_like of int
        The value(s) the element(s) must hold for the exchange.
    new : int or array_like of int
        The value(s) written where they do.

    Returns
    -------
    int or numpy.ndarray
        The previous value(s): equal to ``expected`` exactly where the
        exchange happened.

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import ndshare, ndshare.atomic
    >>> owner = ndshare.zeros(1, dtype="i8")
    >>> int(ndshare.atomic.compare_exchange(owner, 0, 0, 123))  # free: taken
    0
    >>> int(ndshare.atomic.compare_exchange(owner, 0, 0, 456))  # taken: unchanged
    123
    """
    r = atomic_one(_CAS, a, index, expected, new)
    return _many(_CAS, a, index, expected, new, True) if r is NotImplemented else r


def load(a: SharedArray, index: Any) -> Any:
    """``a[index]``, read atomically.

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).

    Returns
    -------
    int or numpy.ndarray
        The value (an array of them, shaped like the indices, for arrays of
        indices).

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import ndshare, ndshare.atomic
    >>> c = ndshare.full(3, 4, dtype="u4")
    >>> int(ndshare.atomic.load(c, 1))
    4
    """
    r = atomic_one(_LOAD, a, index, 0)
    return _many(_LOAD, a, index, 0, None, True) if r is NotImplemented else r


def store(a: SharedArray, index: Any, value: ArrayLike) -> None:
    """``a[index] = value``, atomically.

    Parameters
    ----------
    a : SharedArray
        A writable shared array (or view) of ``int32``, ``int64``,
        ``uint32`` or ``uint64`` in native byte order.
    index : int, tuple of int, or array_like of int
        One element's full index, or arrays of indices in ``np.add.at``
        form (repeats apply repeatedly).
    value : int or array_like of int
        The new value(s).

    Returns
    -------
    None

    Raises
    ------
    TypeError
        ``a`` is not a writable shared array of a supported dtype.
    IndexError
        An index is out of bounds (checked before anything changes).
    OverflowError
        A value does not fit the element type.

    Examples
    --------
    >>> import ndshare, ndshare.atomic
    >>> flags = ndshare.zeros(3, dtype="i4")
    >>> ndshare.atomic.store(flags, [0, 2], 1)
    >>> flags
    SharedArray([1, 0, 1], dtype=int32)
    """
    if atomic_one(_STORE, a, index, value) is NotImplemented:
        _many(_STORE, a, index, value, None, False)
