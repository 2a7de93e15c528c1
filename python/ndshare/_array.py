"""SharedArray, the numpy-like constructors, and attach."""

from __future__ import annotations

import functools
import operator
import traceback
import typing
from multiprocessing.reduction import ForkingPickler
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, SupportsIndex, Tuple, Type, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _reduce
from ._arrive import describe, open_located, open_sent_descriptor
from ._dtype import check_shareable, from_descr, to_descr
from ._mapped import base_of, remember
from ._ndshare import ArrayLock, Segment, check_array
from ._registry import ArrayInfo, segment_info

if TYPE_CHECKING:
    from typing_extensions import TypeVar
else:

    def TypeVar(name: str, *constraints: Any, default: Any = None, **kwargs: Any) -> Any:
        """``typing.TypeVar``; the ``default`` that Pythons before 3.13 lack
        is read by type checkers only."""
        return typing.TypeVar(name, *constraints, **kwargs)


ShapeLike = Union[SupportsIndex, Sequence[SupportsIndex]]

# The type parameters of SharedArray, as numpy.ndarray's: the shape (a
# tuple) and the dtype. Their defaults make a bare ``SharedArray``
# annotation mean any shape and any dtype, as a bare ``numpy.ndarray`` does.
_ShapeT_co = TypeVar("_ShapeT_co", bound=Tuple[int, ...], default=Tuple[int, ...], covariant=True)
_DTypeT_co = TypeVar("_DTypeT_co", bound="np.dtype[Any]", default="np.dtype[Any]", covariant=True)

_NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
_NDARRAY_IMAG = vars(np.ndarray)["imag"]


#: Called with each subclass of SharedArray when it is defined: the picklers
#: that look reducers up by exact type (loky's) register it here.
SUBCLASS_HOOKS: list[Callable[[type], None]] = []


class SharedArray(np.ndarray[_ShapeT_co, _DTypeT_co]):
    """A numpy array whose memory is shared between processes.

    Every view of it (slices, transposes, reshapes that need no copy) is a
    ``SharedArray`` of the same memory, and travels as a small reference to it
    through multiprocessing, joblib's loky and Dask distributed, or any
    pickler inside ``with ndshare.by_reference():``. Any other pickling (a
    ``pickle.dump`` to a file, ``joblib.dump``, ``copy``) stores its data: it
    loads as a plain ``numpy.ndarray``, as ``numpy.memmap``'s pickle does.
    Results that live in new memory (``a + 1``, ``a.copy()``, fancy indexing,
    reductions) are plain ``numpy.ndarray``\\ s, as with ``numpy.memmap``.

    Make one with :func:`ndshare.array`, :func:`ndshare.zeros` and the other
    constructors, or :func:`ndshare.attach`; ``SharedArray(shape, dtype)`` is
    :func:`ndshare.empty`.

    In the types, ``SharedArray[Shape, DType]`` is generic as
    ``numpy.ndarray`` is: ``ndshare.zeros(3, dtype="f4")`` is a
    ``SharedArray[tuple[int, ...], np.dtype[np.float32]]``.

    Parameters
    ----------
    shape : int or sequence of ints
        The shape of the new array.
    dtype : data-type, optional
        Any fixed-size numpy dtype (default ``float64``).
    order : {'C', 'F'}, optional
        Row-major (the default) or column-major layout.
    name : str, optional
        Makes a named array; see :func:`ndshare.zeros`.
    mode : int, optional
        Permission bits of a named array's file (default ``0o600``); see
        :func:`ndshare.zeros`.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages.

    Raises
    ------
    TypeError, FileExistsError, ValueError, MemoryError
        As :func:`ndshare.empty` raises them.

    Examples
    --------
    >>> import pickle, numpy as np, ndshare
    >>> a = ndshare.SharedArray((2, 3), dtype="f4")
    >>> isinstance(a, np.ndarray), type(a[:, 1:]).__name__, type(a * 2).__name__
    (True, 'SharedArray', 'ndarray')
    >>> with ndshare.by_reference():
    ...     len(pickle.dumps(a)) < 1024
    True
    >>> type(pickle.loads(pickle.dumps(a))).__name__  # stored: the data
    'ndarray'
    """

    #: Lose to other subclasses when numpy picks the type of a result.
    __array_priority__ = -100.0

    _segment: Optional[Segment]

    def __new__(
        cls,
        shape: ShapeLike,
        dtype: Optional[DTypeLike] = float,
        order: str = "C",
        *,
        name: Optional[str] = None,
        mode: int = 0o600,
        huge_pages: bool = True,
    ) -> SharedArray:
        a = empty(shape, dtype, order, name=name, mode=mode, huge_pages=huge_pages)
        return a if cls is SharedArray else a.view(cls)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # multiprocessing and loky look their reducers up by exact type: a
        # subclass too must travel by reference through them.
        ForkingPickler.register(cls, reduce_forking)
        for hook in SUBCLASS_HOOKS:
            hook(cls)

    def __array_finalize__(self, obj: Any) -> None:
        seg = getattr(obj, "_segment", None)
        if seg is not None and np.may_share_memory(self, obj):
            self._segment = seg
        else:
            self._segment = None

    def __array_wrap__(self, arr: Any, context: Any = None, return_scalar: bool = False) -> Any:
        # Keep the type only for results in shared memory (out= a shared array).
        if isinstance(arr, SharedArray) and arr._segment is not None:
            return arr
        seg = self._segment
        if seg is not None and type(arr) is np.ndarray and np.may_share_memory(arr, self):
            # A view of this memory, as numpy's squeeze wraps its result.
            view = arr.view(type(self))
            view._segment = seg
            return view
        if return_scalar or (not _NUMPY2 and arr.shape == ()):
            return arr[()]
        return arr.view(np.ndarray)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        # numpy's functions (np.zeros_like, np.copy(subok=True), ...) may
        # give this type to new memory: such results are plain arrays too.
        res = super().__array_function__(func, types, args, kwargs)
        if type(res) is tuple or type(res) is list:
            return type(res)(_decay(r) for r in res)
        return _decay(res)

    def __getitem__(self, index: Any) -> Any:
        res = super().__getitem__(index)
        if type(res) is SharedArray and res._segment is None:
            return res.view(np.ndarray)
        return res

    def __reduce__(self) -> Tuple[Any, ...]:
        return reduce_array(self, 2)

    def __reduce_ex__(self, protocol: SupportsIndex) -> Tuple[Any, ...]:
        # Persistence keeps the data: a plain pickle loads as a plain ndarray,
        # as numpy.memmap's does. multiprocessing, joblib's loky and Dask
        # register their own reducers (references); see ndshare._reduce.
        return reduce_array(self, protocol)

    @property
    def imag(self) -> Any:
        """The imaginary part: a view of a complex array (a
        ``SharedArray``); for a real one, new zeros (a plain ndarray).

        >>> import ndshare
        >>> type(ndshare.zeros(2, "c16").imag).__name__, type(ndshare.zeros(2).imag).__name__
        ('SharedArray', 'ndarray')
        """
        return _decay(_NDARRAY_IMAG.__get__(self))

    @imag.setter
    def imag(self, value: Any) -> None:
        _NDARRAY_IMAG.__set__(self, value)

    @property
    def name(self) -> Optional[str]:
        """The name of a named array; ``None`` for an anonymous one, and
        for a named one that reached this process by its descriptor (through
        multiprocessing, or a reference after its name was removed): a
        descriptor carries no name.

        >>> import os, ndshare
        >>> ndshare.zeros(2).name is None
        True
        >>> with ndshare.zeros(2, name=f"name-example-{os.getpid()}") as a:
        ...     a.name == f"name-example-{os.getpid()}"
        True
        """
        seg = self._segment
        return None if seg is None else seg.name

    @property
    def segment(self) -> Optional[Segment]:
        """The mapped segment behind this array: the numpy ``base`` that
        owns the mapping; ``None`` for an array that does not live in shared
        memory (an instance made by ``view(SharedArray)`` of private memory).
        For the array's description, use :meth:`info`."""
        return self._segment

    def handle(self) -> str:
        """The handle string of this array's memory, which another process
        opens with :func:`ndshare.from_handle` (or a Rust program with
        ``Handle::from_str``): ``ndshare:named:<dev>:<ino>:<name>`` for a
        named array, valid until its name is removed (its file's device and
        inode are checked, so the handle never opens another array given
        the name later); ``ndshare:proc:<pid>:<fd>:<dev>:<ino>`` for an
        anonymous one (or one whose name this process does not know, see
        :attr:`name`), valid while this process holds the array. It names
        the whole array, not this view of it; to send a view, pickle it (see
        :func:`ndshare.by_reference`).

        Returns
        -------
        str
            The handle, for :func:`ndshare.from_handle`.

        Raises
        ------
        ValueError
            This array does not live in shared memory.

        Examples
        --------
        >>> import ndshare
        >>> a = ndshare.zeros(3)
        >>> a.handle().startswith("ndshare:proc:")
        True
        >>> ndshare.from_handle(a.handle()).shape
        (3,)
        """
        seg = self._segment
        if seg is None:
            raise ValueError("this array does not live in shared memory")
        return seg.handle

    def lock(self, timeout: Optional[float] = None) -> ArrayLock:
        """The process-shared lock of this array's memory: ``with a.lock():``.

        Every view of the memory, in every process, has the same lock. It is
        robust: if its holder dies holding it, the next taker gets it with a
        :class:`ndshare.LockOwnerDied` warning. Entering waits at most
        ``timeout`` seconds, then raises ``TimeoutError``; waiting releases
        the GIL. Not reentrant: taking it again in the holding thread raises
        ``RuntimeError``. See docs/format.md, "Lock word protocol".

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait when entering the ``with`` block (or in
            ``acquire()``); ``None`` waits as long as it takes.

        Returns
        -------
        ArrayLock
            A handle on the lock: a context manager, with ``acquire``,
            ``release``, ``locked`` and ``owner``.

        Raises
        ------
        TimeoutError
            On entering, when ``timeout`` elapses first.

        Examples
        --------
        >>> import ndshare
        >>> counts = ndshare.zeros(1, dtype="i8")
        >>> with counts.lock():
        ...     counts[0] += 1
        >>> int(counts[0])
        1
        """
        if timeout is not None:
            return ArrayLock(self._segment, "lock", timeout)
        # Handles hold no state: keep one for the common `with a.lock():`.
        handle: Optional[ArrayLock] = self.__dict__.get("_lock_handle")
        if handle is None:
            handle = self.__dict__["_lock_handle"] = ArrayLock(self._segment, "lock", None)
        return handle

    def read_lock(self, timeout: Optional[float] = None) -> ArrayLock:
        """A read lock of this array's read/write lock: any number of
        readers at once, never with a writer (``with a.read_lock():``).

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait on entering; ``None`` waits as long as it takes.

        Returns
        -------
        ArrayLock
            A handle on the read side, a context manager.

        Raises
        ------
        TimeoutError
            On entering, when ``timeout`` elapses first.

        Examples
        --------
        >>> import ndshare
        >>> table = ndshare.ones(4)
        >>> with table.read_lock():
        ...     float(table.sum())
        4.0
        """
        return ArrayLock(self._segment, "read", timeout)

    def write_lock(self, timeout: Optional[float] = None) -> ArrayLock:
        """The write lock of this array's read/write lock: no other writer,
        no reader (``with a.write_lock():``). Independent of :meth:`lock`.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait on entering; ``None`` waits as long as it takes.

        Returns
        -------
        ArrayLock
            A handle on the write side, a context manager.

        Raises
        ------
        TimeoutError
            On entering, when ``timeout`` elapses first.

        Examples
        --------
        >>> import ndshare
        >>> table = ndshare.zeros(4)
        >>> with table.write_lock():
        ...     table[:] = 2.0
        >>> float(table.sum())
        8.0
        """
        return ArrayLock(self._segment, "write", timeout)

    def info(self) -> ArrayInfo:
        """What the array's header and attacher table say, read now: the
        fields of :func:`ndshare.info` (for an anonymous array: no name, no
        attachers, no status; once its name was removed, by
        :func:`ndshare.unlink` or a ``with`` block: status "unlinked" and no
        path). Processes that received the array count as attachers for up
        to ``NDSHARE_KEEP_SECONDS`` (10 s) after their last use of it: they
        keep it mapped for the next task (see :func:`ndshare.release_kept`).

        Returns
        -------
        ArrayInfo
            The description, read now.

        Raises
        ------
        ValueError
            This array does not live in shared memory.

        Examples
        --------
        >>> import ndshare
        >>> i = ndshare.zeros((2, 3), dtype="f4").info()
        >>> i.shape, i.dtype, i.nbytes, i.name
        ((2, 3), '<f4', 24, None)
        """
        seg = self._segment
        if seg is None:
            raise ValueError("this array does not live in shared memory")
        return segment_info(seg)

    def __enter__(self) -> SharedArray:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """At the end of a ``with`` block, a named array's name is removed
        (if it still names this array): nobody can attach it any more, and
        its memory goes when the last process that maps it drops it. An
        anonymous array needs nothing."""
        seg = self._segment
        if seg is not None:
            seg.unlink_name()


def _decay(res: Any) -> Any:
    if type(res) is SharedArray and res._segment is None:
        return res.view(np.ndarray)
    return res


def _decaying(name: str) -> Any:
    base = getattr(np.ndarray, name)

    @functools.wraps(base)
    def method(self: SharedArray, *args: Any, **kwargs: Any) -> Any:
        return _decay(base(self, *args, **kwargs))

    return method


# Methods that may return new memory; their results decay to ndarray.
for _name in (
    "copy",
    "astype",
    "flatten",
    "ravel",
    "reshape",
    "take",
    "repeat",
    "compress",
    "choose",
    "byteswap",
    "__copy__",
    "__deepcopy__",
    "squeeze",
    "swapaxes",
    "transpose",
    "diagonal",
    "view",
    "round",
    "clip",
    "argsort",
    "argpartition",
    "dot",
):
    setattr(SharedArray, _name, _decaying(_name))
del _name


def view_of_segment(
    seg: Segment,
    dtype: np.dtype[Any],
    shape: Tuple[int, ...],
    strides: Tuple[int, ...],
    offset: int = 0,
    readonly: bool = False,
    cls: Optional[Type[SharedArray]] = None,
) -> SharedArray:
    """A SharedArray (or an instance of its subclass ``cls``) over part of a
    segment. numpy checks that the view lies inside the segment's data, so a
    hostile reference cannot reach outside; an object dtype (pointers read
    from shared bytes) is refused here."""
    check_shareable(np.dtype(dtype))
    arr = np.ndarray.__new__(SharedArray, shape, dtype, buffer=base_of(seg), offset=offset, strides=strides)
    arr._segment = seg
    if readonly and arr.flags.writeable:
        arr.flags.writeable = False
    if cls is not None and cls is not SharedArray:
        if not (isinstance(cls, type) and issubclass(cls, SharedArray)):
            raise TypeError(f"a shared array cannot arrive as a {cls!r}")
        view: SharedArray = arr.view(cls)
        return view
    return arr


# Pickling: what each route sends is ``_reduce``'s; the view is rebuilt here,
# where the class is.


def reduce_array(arr: SharedArray, protocol: SupportsIndex) -> Tuple[Any, ...]:
    """``__reduce_ex__``: the data, as a plain ndarray, unless inside
    ``by_reference()``."""
    if arr._segment is not None and _reduce.by_reference_here():
        return reduce_reference(arr)
    return _reduce.data(arr, protocol)


def reduce_reference(arr: SharedArray) -> Tuple[Any, ...]:
    """A locator, for any pickler (data for an array outside shared memory)."""
    seg = arr._segment
    if seg is None:
        return _reduce.data(arr, 2)
    return (_rebuild_located, (_reduce.locator(seg),) + _geometry(arr, seg))


def reduce_forking(arr: SharedArray) -> Tuple[Any, ...]:
    """For multiprocessing's ForkingPickler: the descriptor itself."""
    seg = arr._segment
    if seg is None:
        return _reduce.data(arr, 2)
    return (_rebuild_dupfd, (_reduce.descriptor(seg), seg.file_id, not seg.writable) + _geometry(arr, seg))


def _geometry(arr: SharedArray, seg: Segment) -> Tuple[Any, ...]:
    view = _reduce.geometry(arr, seg)
    # A subclass arrives as itself, as numpy pickles subclasses.
    return view if type(arr) is SharedArray else view + (type(arr),)


def _rebuild_located(
    locator: Tuple[Any, ...], offset: int, shape: Any, strides: Any, dtype: Any, readonly: bool, cls: Any = None
) -> SharedArray:
    seg = open_located(locator, readonly, describe(locator[1], dtype, shape))
    return view_of_segment(seg, dtype, shape, strides, offset, readonly, cls)


def _rebuild_dupfd(
    dupfd: Any,
    file_id: Tuple[int, int],
    sender_readonly: bool,
    offset: int,
    shape: Any,
    strides: Any,
    dtype: Any,
    readonly: bool,
    cls: Any = None,
) -> SharedArray:
    seg = open_sent_descriptor(dupfd, file_id, readonly or sender_readonly, describe(None, dtype, shape))
    return view_of_segment(seg, dtype, shape, strides, offset, readonly, cls)


class Reference:
    """An array that pickles as a reference by every pickler: what a
    :class:`ndshare.Barrier` or :class:`ndshare.Event` sends, since a copy of
    a synchronization primitive's memory would synchronize nothing. It
    unpickles as the array itself."""

    __slots__ = ("array",)

    def __init__(self, array: SharedArray) -> None:
        self.array = array

    def __reduce__(self) -> Tuple[Any, ...]:
        return reduce_reference(self.array)


def _reduce_forking_reference(ref: Reference) -> Tuple[Any, ...]:
    return reduce_forking(ref.array)


# multiprocessing sends descriptors (subclasses register in __init_subclass__).
ForkingPickler.register(SharedArray, reduce_forking)
ForkingPickler.register(Reference, _reduce_forking_reference)


def _shape_tuple(shape: ShapeLike) -> Tuple[int, ...]:
    try:
        dims: Tuple[int, ...] = (operator.index(shape),)  # type: ignore[arg-type]
    except TypeError:
        dims = tuple(operator.index(d) for d in shape)  # type: ignore[union-attr]
    if any(d < 0 for d in dims):
        raise ValueError("negative dimensions are not allowed")
    return dims


def _check_order(order: Optional[str], allowed: str) -> str:
    o = "C" if order is None else order
    if not isinstance(o, str) or o.upper() not in allowed:
        raise ValueError(f"order must be one of {', '.join(repr(c) for c in allowed)}, not {order!r}")
    return o.upper()


#: ``_new``'s content when none is given: the zeros the kernel gives.
_ZEROED: Any = object()


def _new(
    shape: ShapeLike,
    dtype: Optional[DTypeLike],
    order: str,
    name: Optional[str],
    mode: int,
    content: Any = _ZEROED,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array, zero-filled, or holding ``content`` (broadcast and
    cast as ``np.copyto`` does) when it is given. A named array gets its name
    only once its data is final: no process ever finds it half-written, and a
    creation that fails (or is killed) leaves no name. A large anonymous
    array goes on huge pages where the system allows, unless ``huge_pages``
    is false."""
    dims = _shape_tuple(shape)
    dt = np.dtype(float if dtype is None else dtype)
    if dt.itemsize == 0:
        # A flexible dtype without a size ("S", "U"): numpy's own rule says
        # what a new array of it holds (one character).
        dt = np.empty(0, dtype=dt).dtype
    if dt.subdtype is not None:
        # As numpy does: a sub-array dtype's shape becomes the last axes.
        dt, sub = dt.subdtype
        dims += sub
    descr = to_descr(dt)
    if not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits between 0 and 0o777, not {mode!r}")
    order = _check_order(order, "CF")
    if content is _ZEROED:
        seg = Segment.create(descr, dt.itemsize, dims, order, name, mode, huge_pages=huge_pages)
        return view_of_segment(remember(seg), dt, dims, seg.strides)
    seg = Segment.create(descr, dt.itemsize, dims, order, name, mode, publish=False, huge_pages=huge_pages)
    a = view_of_segment(seg, dt, dims, seg.strides)
    try:
        if (
            isinstance(content, np.ndarray)
            and content.shape == a.shape
            and content.dtype == a.dtype
            and content.strides == a.strides
            and (content.flags.c_contiguous or content.flags.f_contiguous)
        ):
            # The same bytes in the same places: they go through the file in
            # one call with the GIL released, which skips a page fault per
            # page of fresh memory (docs/benchmarks.md).
            seg._write_from_address(content.ctypes.data, content.nbytes, 0)
        else:
            np.copyto(a, content, casting="unsafe")
    except BaseException as e:
        # Nothing of a failed creation is kept, not even by the frames of
        # the traceback (numpy's dispatch through __array_function__ holds
        # the array): its memory goes now, and it never had a name.
        traceback.clear_frames(e.__traceback__)
        del a, seg
        raise
    seg.publish()
    remember(seg)
    return a


def empty(
    shape: ShapeLike,
    dtype: Optional[DTypeLike] = float,
    order: str = "C",
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array of the given shape and dtype, like
    :func:`numpy.empty`.

    Unlike numpy's, its memory is zero-filled: shared memory always
    comes zeroed from the kernel, and is reserved now (running out of
    memory is a ``MemoryError`` here, never a crash in a worker later).

    Parameters
    ----------
    shape : int or sequence of ints
        The shape of the new array, e.g. ``(2, 3)`` or ``2``.
    dtype : data-type, optional
        Any fixed-size numpy dtype (default ``float64``): numbers, bool,
        ``datetime64``, fixed-width ``"S"``/``"U"`` strings, structured
        dtypes.
    order : {'C', 'F'}, optional
        Row-major (C, the default) or column-major (Fortran) layout.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array, zero-filled.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    zeros, empty_like, array

    Examples
    --------
    >>> import ndshare
    >>> a = ndshare.empty((2, 3), dtype="i4")
    >>> type(a).__name__, a.shape, a.dtype.name, int(a.sum())
    ('SharedArray', (2, 3), 'int32', 0)
    """
    return _new(shape, dtype, order, name, mode, huge_pages=huge_pages)


def zeros(
    shape: ShapeLike,
    dtype: Optional[DTypeLike] = float,
    order: str = "C",
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array of zeros, like :func:`numpy.zeros`.

    Parameters
    ----------
    shape : int or sequence of ints
        The shape of the new array, e.g. ``(2, 3)`` or ``2``.
    dtype : data-type, optional
        Any fixed-size numpy dtype (default ``float64``): numbers, bool,
        ``datetime64``, fixed-width ``"S"``/``"U"`` strings, structured
        dtypes.
    order : {'C', 'F'}, optional
        Row-major (C, the default) or column-major (Fortran) layout.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array of zeros.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    ones, full, zeros_like, attach

    Examples
    --------
    >>> import ndshare
    >>> ndshare.zeros(3)
    SharedArray([0., 0., 0.])
    >>> ndshare.zeros((2, 2), dtype="i8", order="F").flags.f_contiguous
    True

    A named array, which other processes attach by name:

    >>> import os
    >>> name = f"zeros-example-{os.getpid()}"
    >>> a = ndshare.zeros(4, name=name)
    >>> b = ndshare.attach(name, readonly=True)
    >>> a[0] = 7
    >>> float(b[0]), b.flags.writeable
    (7.0, False)
    >>> ndshare.unlink(name)
    """
    return _new(shape, dtype, order, name, mode, huge_pages=huge_pages)


def ones(
    shape: ShapeLike,
    dtype: Optional[DTypeLike] = None,
    order: str = "C",
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array of ones, like :func:`numpy.ones`.

    Parameters
    ----------
    shape : int or sequence of ints
        The shape of the new array, e.g. ``(2, 3)`` or ``2``.
    dtype : data-type, optional
        Any fixed-size numpy dtype (default ``float64``): numbers, bool,
        ``datetime64``, fixed-width ``"S"``/``"U"`` strings, structured
        dtypes.
    order : {'C', 'F'}, optional
        Row-major (C, the default) or column-major (Fortran) layout.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array of ones.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    zeros, full, ones_like

    Examples
    --------
    >>> import ndshare
    >>> ndshare.ones((2, 2), dtype="u1")
    SharedArray([[1, 1],
                 [1, 1]], dtype=uint8)
    """
    return full(shape, 1, float if dtype is None else dtype, order, name=name, mode=mode, huge_pages=huge_pages)


def full(
    shape: ShapeLike,
    fill_value: Any,
    dtype: Optional[DTypeLike] = None,
    order: str = "C",
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array filled with ``fill_value``, like
    :func:`numpy.full`.

    Parameters
    ----------
    shape : int or sequence of ints
        The shape of the new array, e.g. ``(2, 3)`` or ``2``.
    fill_value : scalar or array_like
        The value of every element (broadcast to ``shape``, and cast to
        ``dtype``).
    dtype : data-type, optional
        Any fixed-size numpy dtype; default: the dtype of
        ``numpy.array(fill_value)``.
    order : {'C', 'F'}, optional
        Row-major (C, the default) or column-major (Fortran) layout.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array; a named one gets its name only once filled.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    zeros, ones, full_like

    Examples
    --------
    >>> import ndshare
    >>> ndshare.full(3, 2.5)
    SharedArray([2.5, 2.5, 2.5])
    >>> ndshare.full((2, 2), [1, 2], dtype="i2")
    SharedArray([[1, 2],
                 [1, 2]], dtype=int16)
    """
    if dtype is None:
        dtype = np.array(fill_value).dtype
    return _new(shape, dtype, order, name, mode, fill_value, huge_pages)


def _like_order(prototype: Any, order: str) -> str:
    o = _check_order(order, "CFAK")
    if o in "AK":
        f = getattr(prototype, "flags", None)
        return "F" if f is not None and f.f_contiguous and not f.c_contiguous else "C"
    return o


def empty_like(
    prototype: ArrayLike,
    dtype: Optional[DTypeLike] = None,
    order: str = "K",
    shape: Optional[ShapeLike] = None,
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array with the shape and dtype of ``prototype``, like
    :func:`numpy.empty_like`; zero-filled (see :func:`empty`).

    Parameters
    ----------
    prototype : array_like
        The array whose shape, dtype and layout the new one takes.
    dtype : data-type, optional
        Overrides the dtype of ``prototype``.
    order : {'K', 'A', 'C', 'F'}, optional
        Layout: ``'K'`` and ``'A'`` (the default is ``'K'``) keep a
        Fortran-ordered prototype gives a Fortran-ordered and make anything else
        C-ordered; ``'C'`` and ``'F'`` force that layout.
    shape : int or sequence of ints, optional
        Overrides the shape of ``prototype``.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array, zero-filled.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    empty, zeros_like

    Examples
    --------
    >>> import numpy as np, ndshare
    >>> a = ndshare.empty_like(np.ones((2, 3), dtype="f4"))
    >>> type(a).__name__, a.shape, a.dtype.name
    ('SharedArray', (2, 3), 'float32')
    """
    p = prototype if isinstance(prototype, np.ndarray) else np.asarray(prototype)
    return _new(
        p.shape if shape is None else shape,
        p.dtype if dtype is None else dtype,
        _like_order(p, order),
        name,
        mode,
        huge_pages=huge_pages,
    )


def zeros_like(
    prototype: ArrayLike,
    dtype: Optional[DTypeLike] = None,
    order: str = "K",
    shape: Optional[ShapeLike] = None,
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array of zeros with the shape and dtype of
    ``prototype``, like :func:`numpy.zeros_like`.

    Parameters
    ----------
    prototype : array_like
        The array whose shape, dtype and layout the new one takes.
    dtype : data-type, optional
        Overrides the dtype of ``prototype``.
    order : {'K', 'A', 'C', 'F'}, optional
        Layout: ``'K'`` and ``'A'`` (the default is ``'K'``) keep a
        Fortran-ordered prototype gives a Fortran-ordered and make anything else
        C-ordered; ``'C'`` and ``'F'`` force that layout.
    shape : int or sequence of ints, optional
        Overrides the shape of ``prototype``.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array of zeros.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    zeros, ones_like, full_like

    Examples
    --------
    >>> import numpy as np, ndshare
    >>> ndshare.zeros_like(np.arange(3))
    SharedArray([0, 0, 0])
    """
    return empty_like(prototype, dtype, order, shape, name=name, mode=mode, huge_pages=huge_pages)


def ones_like(
    prototype: ArrayLike,
    dtype: Optional[DTypeLike] = None,
    order: str = "K",
    shape: Optional[ShapeLike] = None,
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array of ones with the shape and dtype of
    ``prototype``, like :func:`numpy.ones_like`.

    Parameters
    ----------
    prototype : array_like
        The array whose shape, dtype and layout the new one takes.
    dtype : data-type, optional
        Overrides the dtype of ``prototype``.
    order : {'K', 'A', 'C', 'F'}, optional
        Layout: ``'K'`` and ``'A'`` (the default is ``'K'``) keep a
        Fortran-ordered prototype gives a Fortran-ordered and make anything else
        C-ordered; ``'C'`` and ``'F'`` force that layout.
    shape : int or sequence of ints, optional
        Overrides the shape of ``prototype``.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array of ones.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    ones, zeros_like, full_like

    Examples
    --------
    >>> import ndshare
    >>> ndshare.ones_like([[1, 2], [3, 4]], dtype="f8")
    SharedArray([[1., 1.],
                 [1., 1.]])
    """
    return full_like(prototype, 1, dtype, order, shape, name=name, mode=mode, huge_pages=huge_pages)


def full_like(
    prototype: ArrayLike,
    fill_value: Any,
    dtype: Optional[DTypeLike] = None,
    order: str = "K",
    shape: Optional[ShapeLike] = None,
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """A new shared array filled with ``fill_value``, with the shape and
    dtype of ``prototype``, like :func:`numpy.full_like`.

    Parameters
    ----------
    prototype : array_like
        The array whose shape, dtype and layout the new one takes.
    fill_value : scalar or array_like
        The value of every element (broadcast, and cast to ``dtype``).
    dtype : data-type, optional
        Overrides the dtype of ``prototype``.
    order : {'K', 'A', 'C', 'F'}, optional
        Layout: ``'K'`` and ``'A'`` (the default is ``'K'``) keep a
        Fortran-ordered prototype gives a Fortran-ordered and make anything else
        C-ordered; ``'C'`` and ``'F'`` force that layout.
    shape : int or sequence of ints, optional
        Overrides the shape of ``prototype``.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        The new array; a named one gets its name only once filled.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    full, zeros_like, ones_like

    Examples
    --------
    >>> import numpy as np, ndshare
    >>> ndshare.full_like(np.zeros(3, dtype="i4"), 9)
    SharedArray([9, 9, 9], dtype=int32)
    """
    p = prototype if isinstance(prototype, np.ndarray) else np.asarray(prototype)
    return _new(
        p.shape if shape is None else shape,
        p.dtype if dtype is None else dtype,
        _like_order(p, order),
        name,
        mode,
        fill_value,
        huge_pages,
    )


def array(
    object: ArrayLike,
    dtype: Optional[DTypeLike] = None,
    order: str = "K",
    *,
    name: Optional[str] = None,
    mode: int = 0o600,
    huge_pages: bool = True,
) -> SharedArray:
    """Copies any array-like into a new shared array, like
    :func:`numpy.array`.

    Non-contiguous arrays, lists, scalars and other shared arrays are
    all copied; use :func:`ndshare.asarray` to avoid copying what is
    already shared.

    Parameters
    ----------
    object : array_like
        What to copy: an ndarray (of any layout), a list, a scalar...
    dtype : data-type, optional
        The dtype of the result; default: the input's (cast as
        :func:`numpy.asarray` casts).
    order : {'K', 'A', 'C', 'F'}, optional
        Layout: ``'K'`` and ``'A'`` (the default is ``'K'``) keep a
        Fortran-ordered input stays Fortran-ordered and make anything else
        C-ordered; ``'C'`` and ``'F'`` force that layout.
    name : str, optional
        Makes a *named* array, the file ``/dev/shm/ndshare.<name>``: any
        process that ``mode`` lets in may open it with
        :func:`ndshare.attach` until :func:`ndshare.unlink` removes the
        name. A name is 1 to 247 ASCII letters, digits and
        ``. _ - @ + = , :`` (no ``/``, no leading ``.``); it appears only
        once the data is final. ``None`` (the default) makes an anonymous
        array, whose memory goes back when the last process using it drops
        it or dies.
    mode : int, optional
        Permission bits of a named array's file, as for ``chmod``, applied
        exactly (the umask does not change them); default ``0o600``: only
        your user may attach it. ``0o640`` (``0o644``) lets the file's
        group (everyone) attach it read-only, ``0o660`` (``0o666``) read
        and write too. Ignored for an anonymous array.
    huge_pages : bool, optional
        Whether a large anonymous array may live on 2 MiB pages where the
        system allows (default ``True``); ``False`` keeps 4 KiB pages.

    Returns
    -------
    SharedArray
        A new shared array holding a copy of ``object``.

    Raises
    ------
    TypeError
        ``dtype`` is ``object`` (or holds Python objects): such arrays
        cannot be shared.
    FileExistsError
        ``name`` is taken (never reused silently).
    ValueError
        ``name``, ``order`` or ``mode`` is not valid, or a dimension is
        negative.
    MemoryError
        The memory cannot be reserved (for a named array: ``/dev/shm`` is
        full). Running out is an error here, never a crash later.

    See Also
    --------
    asarray, load, zeros

    Examples
    --------
    >>> import numpy as np, ndshare
    >>> a = ndshare.array(np.arange(6).reshape(2, 3))
    >>> a
    SharedArray([[0, 1, 2],
                 [3, 4, 5]])
    >>> type(a[1:]).__name__, type(a + 1).__name__
    ('SharedArray', 'ndarray')
    """
    src = np.asarray(object, dtype=dtype)
    return _new(src.shape, src.dtype, _like_order(src, order), name, mode, src, huge_pages)


def attach(name: str, readonly: bool = False) -> SharedArray:
    """The named array ``name``, as its creator made it (shape, dtype,
    layout), mapped into this process.

    Writes through it are seen by every process that maps the array,
    and theirs by this one. The array stays mapped for as long as this
    process holds any view of it, even after the name is removed.

    Parameters
    ----------
    name : str
        The array's name (see :func:`ndshare.zeros`, ``name``).
    readonly : bool, optional
        Map the data read-only: numpy refuses writes (``ValueError``), and
        the memory could not be written anyway. Needed where ``mode``
        grants only read permission.

    Returns
    -------
    SharedArray
        The whole array, a view of the shared memory.

    Raises
    ------
    FileNotFoundError
        There is no array of that name.
    PermissionError
        The file's mode does not let this user open it so.
    ndshare.FormatError
        The file is not a valid ndshare array (corrupt, truncated, another
        program's file); ``ndshare info NAME`` says why. A ``ValueError``.
    ValueError
        ``name`` is not a valid name.

    See Also
    --------
    zeros, unlink, list, from_handle

    Examples
    --------
    >>> import ndshare
    >>> import os
    >>> name = f"attach-example-{os.getpid()}"
    >>> a = ndshare.full((2, 2), 1.5, name=name)
    >>> b = ndshare.attach(name)
    >>> b[0, 0] = 3.0
    >>> float(a[0, 0]), b.name == name
    (3.0, True)
    >>> ndshare.unlink(name)
    """
    return _whole(Segment.attach(name, readonly=readonly), readonly)


def from_handle(handle: str, readonly: bool = False) -> SharedArray:
    """The whole array a handle string names, as its creator made it.

    The counterpart of :meth:`SharedArray.handle` (and of the Rust API's
    ``Handle``), for handing an array over by text (a command line, a
    file, a socket) to a process that multiprocessing did not start.

    Parameters
    ----------
    handle : str
        ``ndshare:named:<dev>:<ino>:<name>`` (what :meth:`SharedArray.handle`
        gives for a named array) attaches the name if it still names the
        file ``(dev, ino)``. The name alone, ``ndshare:name:<name>``,
        attaches whatever array the name holds, like :func:`attach`.
        ``ndshare:proc:<pid>:<fd>:<dev>:<ino>`` opens the descriptor of the
        live process ``pid`` through ``/proc``, after checking that it is
        still the memory file ``(dev, ino)``.
    readonly : bool, optional
        Map the data read-only, as in :func:`attach`.

    Returns
    -------
    SharedArray
        The whole array (not the view the handle was taken from).

    Raises
    ------
    ndshare.UnreachableError
        The process or the array is gone, or the name now names another
        array (which is not mapped). A ``FileNotFoundError``.
    FileNotFoundError
        ``ndshare:name:`` of a name that does not exist.
    ValueError
        The string is not a handle.

    See Also
    --------
    SharedArray.handle, attach

    Examples
    --------
    >>> import ndshare
    >>> a = ndshare.zeros(3)
    >>> b = ndshare.from_handle(a.handle())
    >>> b[1] = 5.0
    >>> a
    SharedArray([0., 5., 0.])
    """
    return _whole(Segment.from_handle(handle, readonly=readonly), readonly)


def _whole(seg: Segment, readonly: bool) -> SharedArray:
    """The array a freshly mapped segment holds, as its header describes it;
    one mapping per segment in this process (see ``_mapped.remember``).
    A ring's segment is refused (``TypeError``): ``ndshare.attach_ring``."""
    check_array(seg)
    seg = remember(seg)
    dt = from_descr(seg.dtype, seg.itemsize)
    return view_of_segment(seg, dt, seg.shape, seg.strides, 0, readonly)
