"""dtype <-> the descriptor string stored in a segment header.

The descriptor is numpy's own ``.npy`` format ``descr`` (what
``numpy.lib.format.dtype_to_descr`` gives): a type string such as ``'<f8'``
or, for structured dtypes, the repr of a list of fields. C and Rust readers of
the .npy format already know it; docs/format.md describes it.
"""

from __future__ import annotations

import ast
import functools
import warnings
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from ._ndshare import FormatError

#: Longest descriptor accepted back from a segment (the header's limit).
_MAX_DESCR = 64 * 1024


def check_shareable(dtype: np.dtype[Any]) -> None:
    """Raises TypeError for dtypes whose bytes mean nothing in another process."""
    if dtype.hasobject:
        raise TypeError(
            f"dtype {dtype} holds Python objects: its elements are pointers into one "
            "process's memory and cannot be shared; use a fixed-size dtype "
            "(numbers, fixed-width 'S'/'U' strings, or a structured dtype of those)"
        )


def to_descr(dtype: np.dtype[Any]) -> str:
    """The descriptor string for a shareable dtype: field names in any script
    are kept as they are (the header stores UTF-8), and what `repr` escapes
    (NUL, newlines, lone surrogates) is kept escaped."""
    check_shareable(dtype)
    descr = npy_format.dtype_to_descr(dtype)
    return descr if isinstance(descr, str) else repr(descr)


@functools.lru_cache(maxsize=256)
def from_descr(descr: str, itemsize: int) -> np.dtype[Any]:
    """The dtype a segment's header names, checked against its item size."""
    try:
        if len(descr) > _MAX_DESCR:
            raise ValueError("descriptor too long")
        # A descriptor numpy only warns about (a deprecated alias such as
        # 'a') is one ndshare never writes: refused like any other.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if descr[:1] in ("[", "("):
                # Only literals: ast.literal_eval runs no code.
                dtype = npy_format.descr_to_dtype(ast.literal_eval(descr))
            else:
                dtype = np.dtype(descr)
    except (
        ValueError,
        TypeError,
        SyntaxError,
        MemoryError,
        RecursionError,
        OverflowError,
        KeyError,
        IndexError,
        Warning,
    ) as e:
        raise FormatError(f"the segment's dtype descriptor {descr[:80]!r} is not valid: {e}") from None
    if dtype.hasobject:
        raise FormatError(f"the segment's dtype {descr[:80]!r} holds Python objects")
    if dtype.subdtype is not None:
        # numpy never gives an array a sub-array dtype (it becomes part of
        # the shape), so no segment made by ndshare holds one.
        raise FormatError(f"the segment's dtype {descr[:80]!r} is a sub-array dtype")
    if dtype.itemsize != itemsize:
        raise FormatError(
            f"the segment's dtype {descr[:80]!r} has itemsize {dtype.itemsize}, but its header says {itemsize}"
        )
    return dtype
