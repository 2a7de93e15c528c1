"""The ways to share an array with pool workers that the suite compares.

Each method has a parent side (``setup``: get x into shared memory;
``payloads``: what each task carries; ``cleanup``) and a worker side
(``open``: a usable numpy view of the task's part; ``close``), plus the
fan-in pair (``make_result`` in a worker, ``receive`` in the parent).
Workers find a method by its key in :data:`METHODS`.

A method's ``env`` is the environment its parent side and its workers run
with (the suite keeps one started pool per environment): the same product
with huge pages on and off is two methods.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

F8 = np.dtype("f8")
_counter = itertools.count()

Halves = List[Tuple[int, int]]

#: Turns ndshare's huge pages off, in the parent and in the pool's workers.
SMALL_PAGES_ENV = {"NDSHARE_HUGE_PAGES": "0"}


def halves(n: int) -> Halves:
    mid = n // 2
    return [(0, mid), (mid, n)]


def page_backing(a: Any) -> Optional[str]:
    """What memory an ndshare array lives on ("huge-tmpfs, 2 MiB pages"), or
    None where the build does not say (no huge pages in it) or ``a`` is not a
    SharedArray."""
    info = getattr(a, "info", None)
    if info is None or not callable(info):
        return None
    try:
        got = info()
    except (TypeError, ValueError):
        return None
    backing = getattr(got, "backing", None)
    if backing is None:
        return None
    page = int(getattr(got, "page_size", 0) or 0)
    return f"{backing}, {page >> 10} KiB pages" if page < 1 << 20 else f"{backing}, {page >> 20} MiB pages"


def huge_pages_in_build() -> bool:
    """Whether this build of ndshare can put arrays on huge pages."""
    import ndshare

    return hasattr(ndshare.array(np.zeros(1)).info(), "backing")


#: Worker side of the methods that keep something between tasks (a mapping
#: attached once per worker, a private copy): key -> (what it is for, view, keep).
_KEPT: Dict[str, Tuple[Any, np.ndarray, Any]] = {}


def kept(key: str, ident: Any, make: Any) -> np.ndarray:
    """The view this worker keeps for ``key`` if it was made for ``ident``;
    else the old one is closed and ``make()`` gives the new (view, keep)."""
    old = _KEPT.get(key)
    if old is not None and old[0] == ident:
        return old[1]
    forget(key)
    view: np.ndarray
    view, keep = make()
    _KEPT[key] = (ident, view, keep)
    return view


def forget(key: Optional[str] = None) -> int:
    """Drops what this worker keeps (for ``key``, or everything); its pid."""
    for k in [key] if key is not None else list(_KEPT):
        if k not in _KEPT:
            continue
        _ident, view, keep = _KEPT.pop(k)
        del view  # a SharedMemory closes only once no view exports its buffer
        if keep is not None:
            keep.close()
    return os.getpid()


class Method:
    key = ""
    label = ""
    #: Why the method cannot run here (None: it can).
    unavailable: Optional[str] = None
    #: Not part of the product: an idea measured for docs/benchmarks.md.
    experiment = False
    #: A reference (the best case), not an alternative a user would pick.
    reference = False
    #: Variants it takes part in.
    variants: Tuple[str, ...] = ("double", "sum", "fanin", "sweep")
    #: The environment of the parent side and of the workers (see the module's docstring).
    env: Dict[str, str] = {}
    #: Each worker opens a payload once before the timing (a reference that
    #: starts with the data already in the workers).
    preload = False
    #: Workers keep what a task opened (see :func:`kept`); the suite has
    #: them drop it after each run.
    keeps_in_workers = False
    #: The parent's array arrives back only as returned data.
    returns_data = False
    #: Dispatch: "pool" (the suite's started spawn pool), "fresh-pool"
    #: (a pool started with the array), "joblib" (``Parallel(n_jobs=2)``),
    #: "ray".
    dispatch = "pool"

    # parent side --------------------------------------------------------
    def prepare(self, x: np.ndarray) -> Any:
        """Untimed work before setup (default: nothing)."""
        return None

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        """Gets x into shared memory: (the parent's view, what to keep)."""
        raise NotImplementedError

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        raise NotImplementedError

    def cleanup(self, keep: Any) -> None:
        pass

    # worker side --------------------------------------------------------
    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        raise NotImplementedError

    def close(self, keep: Any) -> None:
        pass

    # fan-in: a worker creates an array, the parent receives it ------------
    def make_result(self, src: np.ndarray) -> Tuple[Any, Any]:
        """In a worker: a new array holding ``2 * src``, and its payload back."""
        raise NotImplementedError

    def receive(self, payload: Any) -> Tuple[np.ndarray, Any]:
        raise NotImplementedError

    def release_result(self, keep: Any) -> None:
        pass


class ArrayTravels(Method):
    """A method whose views are themselves the payloads, and whose results
    are returned as themselves: the pickler decides what crosses (a
    reference for ndshare, the data for Pool.map pickling)."""

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        return [view[lo:hi] for lo, hi in parts]

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        return payload, None

    def receive(self, payload: Any) -> Tuple[np.ndarray, Any]:
        return payload, None


class Ndshare(ArrayTravels):
    """ndshare as it comes: huge pages where the build and the system allow."""

    key = "ndshare"
    label = "ndshare (huge pages)"

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        import ndshare

        a = ndshare.array(x)
        return a, None

    def make_result(self, src: np.ndarray) -> Tuple[Any, Any]:
        import ndshare

        r = ndshare.empty(src.shape, src.dtype)
        np.multiply(src, 2, out=r)
        return r, None


HUGE_PAGES_ABSENT = "huge pages: not available in this build"


class NdshareSmallPages(Ndshare):
    """ndshare with huge pages turned off: every page 4 KiB."""

    key = "ndshare-4k"
    label = "ndshare (4 KiB pages)"
    env = SMALL_PAGES_ENV


class NdsharePrefault(Ndshare):
    """ndshare with each worker prefaulting its half on arrival
    (``madvise(MADV_POPULATE_WRITE)``): moves page faults from the compute
    into the hand-off."""

    key = "ndshare-prefault"
    label = "ndshare + prefault on attach (experiment)"
    experiment = True
    variants = ("double",)

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        _populate_write(payload)
        return payload, None


class NdshareLocator(Ndshare):
    """ndshare reached through its by-reference locator (``/proc/<pid>/fd/<n>``,
    ``ndshare.by_reference()``)
    instead of the descriptor that multiprocessing's pickler sends through
    its resource-sharer connection."""

    key = "ndshare-locator"
    label = "ndshare, plain-pickle locator (experiment)"
    experiment = True
    variants = ("double",)

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        import pickle

        import ndshare

        with ndshare.by_reference():
            return [pickle.dumps(view[lo:hi]) for lo, hi in parts]

    def cleanup(self, keep: Any) -> None:
        from ndshare import _keepalive

        _keepalive.release_pins()  # the sender's grace period: not needed here

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        import pickle

        return pickle.loads(payload), None


def _populate_write(a: np.ndarray) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    page = os.sysconf("SC_PAGE_SIZE")
    start = a.ctypes.data & ~(page - 1)
    end = a.ctypes.data + a.nbytes
    madv_populate_write = 23
    libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), madv_populate_write)


class SharedMemoryMethod(Method):
    key = "shared_memory"
    label = "multiprocessing.shared_memory"

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        from multiprocessing import shared_memory

        shm = shared_memory.SharedMemory(create=True, size=max(x.nbytes, 1))
        a: np.ndarray = np.ndarray(x.shape, x.dtype, buffer=shm.buf)
        np.copyto(a, x)
        return a, shm

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        return [(keep.name, view.shape[0], lo, hi) for lo, hi in parts]

    def cleanup(self, keep: Any) -> None:
        keep.close()
        keep.unlink()

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        name, n, lo, hi = payload
        shm = _attach_shm(name)
        a: np.ndarray = np.ndarray((n,), F8, buffer=shm.buf)
        return a[lo:hi], shm

    def close(self, keep: Any) -> None:
        keep.close()

    def make_result(self, src: np.ndarray) -> Tuple[Any, Any]:
        from multiprocessing import shared_memory

        shm = shared_memory.SharedMemory(create=True, size=max(src.nbytes, 1))
        r: np.ndarray = np.ndarray(src.shape, src.dtype, buffer=shm.buf)
        np.multiply(src, 2, out=r)
        del r
        shm.close()
        return (shm.name, src.shape[0]), None

    def receive(self, payload: Any) -> Tuple[np.ndarray, Any]:
        name, n = payload
        shm = _attach_shm(name)
        return np.ndarray((n,), F8, buffer=shm.buf), shm

    def release_result(self, keep: Any) -> None:
        keep.close()
        keep.unlink()


class SharedMemoryOnce(SharedMemoryMethod):
    """The expert's pattern for many tasks on one array: each worker attaches
    once and keeps the mapping in a global, as a pool initializer would (the
    pool here is started before the timing, so the first task a worker runs
    attaches)."""

    key = "shared_memory-once"
    label = "multiprocessing.shared_memory, attached once per worker"
    variants = ("sweep",)
    keeps_in_workers = True

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        name, n, lo, hi = payload
        whole = kept(self.key, name, lambda: SharedMemoryMethod.open(self, (name, n, 0, n)))
        return whole[lo:hi], None

    def close(self, keep: Any) -> None:
        pass


def _attach_shm(name: str) -> Any:
    from multiprocessing import shared_memory

    # Attaching registers the name with the resource tracker (bpo-39959);
    # spawn workers share their parent's tracker, which keeps a set of
    # names, so the creator's unlink settles it.
    return shared_memory.SharedMemory(name=name)


class SharedArrayPackage(Method):
    key = "SharedArray"
    label = "SharedArray (PyPI)"

    def __init__(self) -> None:
        try:
            import SharedArray  # noqa: F401
        except ImportError as e:
            self.unavailable = (
                f"the `SharedArray` package is not installed ({e}); `make bench` installs "
                "sharedarray==3.2.4, which builds from source with a C compiler"
            )

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        import SharedArray as sa

        name = f"ndbench-{os.getpid()}-{next(_counter)}"
        a = sa.create("shm://" + name, x.shape, x.dtype)
        np.copyto(a, x)
        return a, name

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        return [(keep, lo, hi) for lo, hi in parts]

    def cleanup(self, keep: Any) -> None:
        import SharedArray as sa

        sa.delete(keep)

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        import SharedArray as sa

        name, lo, hi = payload
        return sa.attach("shm://" + name)[lo:hi], None

    def make_result(self, src: np.ndarray) -> Tuple[Any, Any]:
        import SharedArray as sa

        name = f"ndbench-{os.getpid()}-{next(_counter)}"
        r = sa.create("shm://" + name, src.shape, src.dtype)
        np.multiply(src, 2, out=r)
        return name, None

    def receive(self, payload: Any) -> Tuple[np.ndarray, Any]:
        import SharedArray as sa

        return sa.attach("shm://" + payload), payload

    def release_result(self, keep: Any) -> None:
        import SharedArray as sa

        sa.delete(keep)


class RawArrayMethod(Method):
    """The sharedctypes tutorial's way: a RawArray can reach a worker only at its start, so the
    hand-off starts a pool of two spawn workers with the array."""

    key = "RawArray"
    label = "sharedctypes.RawArray + frombuffer"
    variants = ("double", "sum")
    dispatch = "fresh-pool"

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        from multiprocessing import sharedctypes

        raw = sharedctypes.RawArray("d", max(x.shape[0], 1))
        a = np.frombuffer(raw, dtype=F8, count=x.shape[0])
        np.copyto(a, x)
        return a, raw

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        return list(parts)

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        lo, hi = payload
        return np.frombuffer(_RAW[0], dtype=F8, count=_RAW[1])[lo:hi], None


_RAW: List[Any] = [None, 0]


def warm_up(_: int) -> int:
    """Imports what the methods' tasks need, so that no task pays for it;
    returns the worker's pid."""
    import ndshare  # noqa: F401

    try:
        import SharedArray  # noqa: F401
    except ImportError:
        pass
    return os.getpid()


def init_raw(raw: Any, n: int) -> None:
    """Pool initializer of the RawArray method (with the imports of the
    suite's own workers, so that their memory readings compare)."""
    warm_up(0)
    _RAW[0], _RAW[1] = raw, n


class PickleMethod(ArrayTravels):
    key = "pickle"
    label = "pickled through Pool.map"
    returns_data = True
    variants = ("double", "sum", "fanin")

    def prepare(self, x: np.ndarray) -> Any:
        return x.copy()  # the parent's own array; x stays pristine for the others

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        return prepared, None

    def make_result(self, src: np.ndarray) -> Tuple[Any, Any]:
        return np.multiply(src, 2), None


class JoblibMemmap(Method):
    """joblib's documented way to let workers write a shared result: dump the
    array to a file in joblib's temporary folder, load it as a read-write
    memmap, pass that to the workers (joblib sends memmaps by reference)."""

    key = "joblib"
    label = "joblib memmap (loky)"
    dispatch = "joblib"
    variants: Tuple[str, ...] = ("double", "sum", "fanin")

    def __init__(self) -> None:
        try:
            import joblib  # noqa: F401
        except ImportError as e:
            self.unavailable = f"joblib is not installed ({e})"

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        import joblib

        folder = tempfile.mkdtemp(prefix="ndbench-joblib-", dir=_joblib_dir())
        path = os.path.join(folder, "x.mmap")
        joblib.dump(x, path)
        a = joblib.load(path, mmap_mode="r+")
        return a, folder

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        return [view[lo:hi] for lo, hi in parts]

    def cleanup(self, keep: Any) -> None:
        shutil.rmtree(keep, ignore_errors=True)

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        return payload, None

    def make_result(self, src: np.ndarray) -> Tuple[Any, Any]:
        return np.multiply(src, 2), None

    def receive(self, payload: Any) -> Tuple[np.ndarray, Any]:
        return payload, None


class JoblibDefault(JoblibMemmap):
    """joblib as it comes: ``Parallel(n_jobs=2)`` given the plain array; it
    dumps an array above 1 MB to a file once per call and sends each task a
    memmap of it."""

    key = "joblib-default"
    label = "joblib Parallel(n_jobs=2), automatic memmapping"
    variants = ("sweep",)

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        return x, None

    def cleanup(self, keep: Any) -> None:
        pass


RAY_ABSENT = "Ray: not installed (`make bench` tries the pinned ray of requirements-bench-optional.txt)"


class RayMethod(Method):
    """Ray: ``ray.put(x)`` once, the object reference as each task's argument
    (Ray hands the task a read-only array on its object store)."""

    key = "ray"
    label = "Ray (ray.put once, remote tasks)"
    dispatch = "ray"
    variants = ("sweep",)

    def __init__(self) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            self.unavailable = RAY_ABSENT

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        import ray

        return x, ray.put(x)

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        return [keep for _ in parts]

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        return payload, None


class PrivateMemory(Method):
    """The reference of the sweep: each worker holds its own private,
    already-touched copy of x before the timing; a task carries only the
    length."""

    key = "private"
    label = "private memory in each worker (reference)"
    reference = True
    preload = True
    keeps_in_workers = True
    variants = ("sweep",)

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        return x, None

    def payloads(self, view: np.ndarray, keep: Any, parts: Halves) -> List[Any]:
        return [(view.shape[0], lo, hi) for lo, hi in parts]

    def open(self, payload: Any) -> Tuple[np.ndarray, Any]:
        n, lo, hi = payload
        return kept(self.key, n, lambda: (np.arange(n, dtype=F8), None))[lo:hi], None


def _joblib_dir() -> str:
    # joblib itself prefers /dev/shm when it has room.
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def all_methods() -> List[Method]:
    ndshare_huge = Ndshare()
    if not huge_pages_in_build():
        ndshare_huge.unavailable = HUGE_PAGES_ABSENT
    return [
        ndshare_huge,
        NdshareSmallPages(),
        NdsharePrefault(),
        NdshareLocator(),
        SharedMemoryMethod(),
        SharedMemoryOnce(),
        SharedArrayPackage(),
        RawArrayMethod(),
        PickleMethod(),
        JoblibMemmap(),
        JoblibDefault(),
        RayMethod(),
        PrivateMemory(),
    ]


METHODS: Dict[str, Method] = {m.key: m for m in all_methods()}
