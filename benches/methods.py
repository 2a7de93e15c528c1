"""The ways to share an array with pool workers that the suite compares.

Each method has a parent side (``setup``: get x into shared memory;
``payloads``: what each of the two tasks carries; ``cleanup``) and a worker
side (``open``: a usable numpy view of the task's half; ``close``), plus the
fan-in pair (``make_result`` in a worker, ``receive`` in the parent).
Workers find a method by its key in :data:`METHODS`.
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


def halves(n: int) -> Halves:
    mid = n // 2
    return [(0, mid), (mid, n)]


class Method:
    key = ""
    label = ""
    #: Why the method cannot run here (None: it can).
    unavailable: Optional[str] = None
    #: Not part of the product: an idea measured for docs/benchmarks.md.
    experiment = False
    #: Variants it takes part in.
    variants = ("double", "sum", "fanin")
    #: The parent's array arrives back only as returned data.
    returns_data = False
    #: Dispatch: "pool" (the suite's started spawn pool), "fresh-pool"
    #: (a pool started with the array), "joblib".
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
    key = "ndshare"
    label = "ndshare"

    def setup(self, x: np.ndarray, prepared: Any) -> Tuple[np.ndarray, Any]:
        import ndshare

        a = ndshare.array(x)
        return a, None

    def make_result(self, src: np.ndarray) -> Tuple[Any, Any]:
        import ndshare

        r = ndshare.empty(src.shape, src.dtype)
        np.multiply(src, 2, out=r)
        return r, None


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
        from ndshare import _pickling

        _pickling.release_pins()  # the sender's grace period: not needed here

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
    """The seed's way: a RawArray can reach a worker only at its start, so the
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


def init_raw(raw: Any, n: int) -> None:
    """Pool initializer of the RawArray method (with the imports of the
    suite's own workers, so that their memory readings compare)."""
    from workloads import warm_up

    warm_up(0)
    _RAW[0], _RAW[1] = raw, n


class PickleMethod(ArrayTravels):
    key = "pickle"
    label = "pickled through Pool.map"
    returns_data = True

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


def _joblib_dir() -> str:
    # joblib itself prefers /dev/shm when it has room.
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def all_methods() -> List[Method]:
    return [
        Ndshare(),
        NdsharePrefault(),
        NdshareLocator(),
        SharedMemoryMethod(),
        SharedArrayPackage(),
        RawArrayMethod(),
        PickleMethod(),
        JoblibMemmap(),
    ]


METHODS: Dict[str, Method] = {m.key: m for m in all_methods()}
