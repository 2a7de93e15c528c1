"""asarray, and .npy files read straight into shared memory (load, save)."""

from __future__ import annotations

import ast
import io
import os
import struct
import traceback
from typing import IO, Any, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._array import SharedArray, _check_order, array, view_of_segment
from ._dtype import to_descr
from ._mapped import remember
from ._ndshare import Segment

#: What :func:`load` and :func:`save` accept as a file: a path, or a file
#: object opened in binary mode.
FileLike = Union[str, "os.PathLike[str]", IO[bytes]]

_ZIP_MAGIC = b"PK\x03\x04"


def asarray(
    x: ArrayLike,
    dtype: Optional[DTypeLike] = None,
    order: Optional[str] = None,
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
) -> SharedArray:
    """``x`` as a shared array: ``x`` itself when it already is one that
    fits, else a copy in new shared memory.

    As :func:`numpy.asarray` does for ndarrays: a :class:`SharedArray` that
    lives in shared memory is returned as it is (no copy, same memory, even a
    read-only or non-contiguous view) when its dtype is ``dtype`` (or
    ``dtype`` is ``None``), its layout fits ``order`` and ``name`` is
    ``None`` or its own name. An instance of a subclass of ``SharedArray``
    comes back as a ``SharedArray`` view of the same memory. Anything else
    (a plain ndarray, a list, a ``SharedArray`` of another dtype or layout,
    a result of numpy that decayed to a plain ndarray) is copied into a new
    shared array, as :func:`ndshare.array` copies it.

    Parameters
    ----------
    x : array_like
        What to share.
    dtype : data-type, optional
        The dtype of the result; ``None`` keeps the dtype of ``x`` (or the
        one numpy infers for it). A different dtype means a copy, cast as
        :func:`numpy.asarray` casts.
    order : {None, 'K', 'A', 'C', 'F'}, optional
        ``'C'`` (``'F'``) asks for a C- (Fortran-) contiguous result: ``x``
        is returned itself only if it is. ``None``, ``'K'`` and ``'A'``
        accept ``x`` in any layout; a copy keeps a Fortran-ordered input
        Fortran-ordered and makes anything else C-ordered.
    name : str, optional
        A name for the result: 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no leading ``.``), by which other processes
        :func:`ndshare.attach` it (see :func:`ndshare.zeros`). If ``x`` is a
        shared array of another name (or none), the result is a new named
        array holding a copy.
    mode : int, optional
        Permission bits of a new named array's file, as for ``chmod``
        (default ``0o600``: your user only; ``0o644``: everyone may attach
        it read-only; ``0o666``: read and write). Ignored when ``x`` is
        returned itself.

    Returns
    -------
    SharedArray
        ``x`` itself, or a new shared array holding a copy of it.

    Raises
    ------
    TypeError
        ``x`` holds Python objects (``object`` dtype): they cannot be shared.
    FileExistsError
        ``name`` is taken by another array.
    ValueError
        ``order`` or ``mode`` is not one of the accepted values.

    Examples
    --------
    >>> import numpy as np, ndshare
    >>> a = ndshare.zeros((2, 3))
    >>> v = a[:, 1:]
    >>> ndshare.asarray(a) is a, ndshare.asarray(v) is v
    (True, True)
    >>> b = ndshare.asarray([1, 2, 3], dtype="i4")
    >>> type(b).__name__, b.dtype.name
    ('SharedArray', 'int32')
    >>> ndshare.asarray(a, dtype="f4") is a
    False
    """
    o = _check_order(order if order is not None else "K", "CFAK")
    if isinstance(x, SharedArray) and x.segment is not None:
        fits = (
            (dtype is None or np.dtype(dtype) == x.dtype)
            and (o != "C" or x.flags.c_contiguous)
            and (o != "F" or x.flags.f_contiguous)
            and (name is None or name == x.name)
        )
        if fits:
            return x if type(x) is SharedArray else np.ndarray.view(x, SharedArray)
    return array(x, dtype, o, name=name, mode=mode)


#: The longest .npy header :func:`load` parses unless told otherwise: numpy's
#: own default, a bound on the work of parsing an untrusted file.
MAX_HEADER_SIZE = 10_000


def load(
    file: FileLike, *, name: Optional[str] = None, mode: int = 0o600, max_header_size: int = MAX_HEADER_SIZE
) -> SharedArray:
    """Reads a ``.npy`` file straight into a new shared array.

    The file's bytes go into the shared memory a few MiB at a time, with no
    private copy of the array on the way (the GIL is released while they are
    read and written): the result
    is the array :func:`numpy.load` would give, in shared memory, and a
    Fortran-ordered file gives a Fortran-ordered array. A named array gets
    its name only once all of its data has been read: no process ever finds
    it half-read, and a load that fails (a short file) or is killed leaves
    no name behind.

    Only ``.npy`` files are read: an ``.npz`` archive holds several arrays
    and is compressed or not; load it with :func:`numpy.load` and copy the
    members you want with :func:`ndshare.array`. There is no ``mmap_mode``:
    a memory map of the file (``numpy.load(path, mmap_mode="r")``) is the
    file's pages, which pickle as data rather than travel by reference,
    while this function's result is shared memory already.

    Parameters
    ----------
    file : str, os.PathLike or binary file object
        The ``.npy`` file (format version 1.0, 2.0 or 3.0, as
        :func:`numpy.save` writes them). A file object is read from its
        current position, and is left after the array's data.
    name : str, optional
        A name for the new array, by which other processes
        :func:`ndshare.attach` it: 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no leading ``.``; see :func:`ndshare.zeros`).
        Anonymous by default.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod`` (default
        ``0o600``: your user only; ``0o644``: everyone may attach it
        read-only; ``0o666``: read and write).
    max_header_size : int, optional
        The longest header parsed, as in :func:`numpy.load`: a file whose
        header is longer (a structured dtype of thousands of fields) is
        refused with ``ValueError`` unless you trust it and raise this.

    Returns
    -------
    SharedArray
        A new shared array holding the file's array.

    Raises
    ------
    FileNotFoundError
        There is no such file.
    TypeError
        The file holds an ``object`` array (pickled Python objects), which
        cannot be shared.
    ValueError
        The file is not a ``.npy`` file (an ``.npz`` archive included), or
        it ends before its array's data does.
    FileExistsError
        ``name`` is taken.
    MemoryError
        The array does not fit in memory (or, for a named array, in
        ``/dev/shm``).

    Examples
    --------
    >>> import os, tempfile, numpy as np, ndshare
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.arange(6.0).reshape(2, 3))
    >>> a = ndshare.load(path)
    >>> type(a).__name__, a.shape, float(a.sum())
    ('SharedArray', (2, 3), 15.0)
    """
    if isinstance(file, (str, bytes, os.PathLike)):
        with open(file, "rb") as f:
            return _load_from(f, name, mode, max_header_size)
    return _load_from(file, name, mode, max_header_size)


def _load_from(f: IO[bytes], name: Optional[str], mode: int, max_header_size: int) -> SharedArray:
    shape, fortran, dt = _read_header(f, max_header_size)
    if dt.hasobject:
        raise TypeError(
            f"the file holds an array of Python objects (dtype {dt}), which cannot be shared: "
            "load it with numpy.load(..., allow_pickle=True) if you trust it"
        )
    if dt.subdtype is not None:
        # As numpy does: a sub-array dtype's shape becomes the last axes.
        dt, sub = dt.subdtype
        shape += sub
    if not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits between 0 and 0o777, not {mode!r}")
    order = "F" if fortran else "C"
    seg = Segment.create(to_descr(dt), dt.itemsize, shape, order, name, mode, publish=False)
    try:
        _read_into(f, seg)
        a = view_of_segment(seg, dt, shape, seg.strides)
    except BaseException as e:
        # Nothing of a failed load is kept: its memory goes now (the frames
        # of the traceback hold the segment), and it never had a name.
        traceback.clear_frames(e.__traceback__)
        del seg
        raise
    seg.publish()
    remember(seg)
    return a


def _read_header(f: IO[bytes], max_header_size: int) -> Tuple[Tuple[int, ...], bool, np.dtype[Any]]:
    fmt = np.lib.format
    # The magic and version, read here rather than by read_magic so that a
    # zip archive gets its own message; the file need not be seekable (a pipe).
    magic = f.read(fmt.MAGIC_LEN)
    if magic.startswith(_ZIP_MAGIC):
        raise ValueError(
            "this is an .npz archive, not an .npy file: load it with numpy.load and "
            "copy the arrays you need with ndshare.array"
        )
    version = fmt.read_magic(io.BytesIO(magic))
    if version == (1, 0):
        shape, fortran, dt = fmt.read_array_header_1_0(f, max_header_size=max_header_size)
    elif version == (2, 0):
        shape, fortran, dt = fmt.read_array_header_2_0(f, max_header_size=max_header_size)
    elif version == (3, 0):
        shape, fortran, dt = _read_header_3_0(f, max_header_size)
    else:
        raise ValueError(f"an .npy file of format version {version[0]}.{version[1]}, which this numpy does not know")
    return tuple(int(d) for d in shape), bool(fortran), np.dtype(dt)


def _read_header_3_0(f: IO[bytes], max_header_size: int) -> Tuple[Any, Any, np.dtype[Any]]:
    """Version 3.0 is 2.0 with a UTF-8 header (for field names outside
    latin-1), which numpy reads with no public function of its own: the same
    checks, from numpy's public pieces (``descr_to_dtype``)."""
    (length,) = struct.unpack("<I", _read_exactly(f, 4))
    if length > max_header_size:
        raise ValueError(
            f"Header info length ({length}) is large and may not be safe to load securely: "
            "pass a larger max_header_size if you trust the file"
        )
    try:
        header = ast.literal_eval(_read_exactly(f, length).decode("utf-8"))
    except (SyntaxError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot parse the .npy header: {e}") from None
    if (
        not isinstance(header, dict)
        or set(header) != {"descr", "fortran_order", "shape"}
        or not isinstance(header["shape"], tuple)
        or not all(isinstance(d, int) and d >= 0 for d in header["shape"])
        or not isinstance(header["fortran_order"], bool)
    ):
        raise ValueError(f"not a valid .npy header: {header!r}")
    return header["shape"], header["fortran_order"], np.lib.format.descr_to_dtype(header["descr"])


def _read_exactly(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError("the file ends inside its .npy header")
    return data


#: The bytes :func:`load` reads at a time, into a buffer of its own, before
#: writing them through the segment's file (docs/benchmarks.md, "Reading .npy
#: files"): large enough to make each call worth it, small enough to stay in
#: the CPU's caches.
LOAD_CHUNK = 4 << 20


def _read_into(f: IO[bytes], seg: Segment) -> None:
    """Fills the segment's data from ``f``, a chunk at a time: read into a
    small reused buffer, then written through the segment's file (GIL
    released both times). Writing through the file gives the new memory its
    pages without a page fault each, which reading straight into the mapping
    (``readinto`` a view of the array) pays: that was 1.5x slower at 1 GiB."""
    nbytes = seg.nbytes
    buf = np.empty(min(nbytes, LOAD_CHUNK), dtype=np.uint8)
    view, address = buf.data, buf.ctypes.data
    done = 0
    while done < nbytes:
        got = f.readinto(view[: min(len(buf), nbytes - done)])  # type: ignore[attr-defined]
        if not got:
            raise ValueError(f"the file ends before its array's data: {done} of {nbytes} bytes read")
        seg._write_from_address(address, got, done)
        done += got


def save(file: FileLike, a: ArrayLike) -> None:
    """Writes an array to a ``.npy`` file, which :func:`ndshare.load` (or
    :func:`numpy.load`) reads back.

    A thin wrapper over :func:`numpy.save` for any array (a
    :class:`SharedArray`, any view of one, a plain ndarray, anything
    :func:`numpy.asarray` takes): the file holds the array's values, shape,
    dtype and order, never a reference to shared memory, so it outlives
    every process. As with :func:`numpy.save`, a path given as a string
    without the ``.npy`` suffix gets it appended.

    Parameters
    ----------
    file : str, os.PathLike or binary file object
        Where to write.
    a : array_like
        The array to write.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        ``a`` holds Python objects (``object`` dtype): the file would hold
        a pickle, which :func:`ndshare.load` refuses; use
        :func:`numpy.save` for it.

    Examples
    --------
    >>> import os, tempfile, numpy as np, ndshare
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> ndshare.save(path, ndshare.full((2, 2), 7, dtype="i2").T)
    >>> np.load(path).tolist()
    [[7, 7], [7, 7]]
    """
    arr = np.asarray(a)
    if arr.dtype.hasobject:
        raise TypeError(
            f"an array of Python objects (dtype {arr.dtype}) would be saved as a pickle, which "
            "ndshare.load refuses: use numpy.save(..., allow_pickle=True) for it"
        )
    np.save(file, arr, allow_pickle=False)
