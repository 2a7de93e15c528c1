"""Every kind of view, against numpy's own behaviour: which results stay
shared and which are plain arrays, and how each view pickles, in a spawned
process, by both routes (multiprocessing's and ndshare.by_reference()'s), to the same
bytes of the same memory."""

from __future__ import annotations

import copy
import gc
import io
import multiprocessing as mp
import os
import pickle
import time
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Dict, Iterator, Tuple

import numpy as np
import pytest

import ndshare
from ndshare import SharedArray
from ndshare._array import view_of_segment


class Tagged(SharedArray):
    """A user's subclass of SharedArray."""


def _base() -> Dict[str, np.ndarray]:
    """Plain numpy arrays, each copied into a shared array by the tests."""
    rec = np.dtype([("x", "<i4"), ("y", ">f8"), ("s", "S3")])
    return {
        "a": np.arange(24.0).reshape(4, 6),
        "f": np.asfortranarray(np.arange(24, dtype="<i4").reshape(4, 6)),
        "c": np.arange(6) + 1j * np.arange(6, 12),
        "st": np.array([(i, 1.5 * i, b"ab%d" % i) for i in range(4)], dtype=rec),
        "be": np.arange(5, dtype=">i4"),
        "z0": np.array(3.5),
        "empty": np.zeros((0, 3)),
    }


# Views: the same memory, so SharedArrays of the array's segment.
VIEWS: Dict[str, Callable[[Dict[str, Any]], Any]] = {
    "negative strides": lambda d: d["a"][::-1, ::-2],
    "0-d view": lambda d: d["a"][1, 2, ...],
    "0-d array": lambda d: d["z0"],
    "0-d array [...]": lambda d: d["z0"][...],
    "zero-size array": lambda d: d["empty"],
    "view of a view of a view": lambda d: d["a"][1:][:, 2:][::2],
    "reshape": lambda d: d["a"].reshape(6, 4),
    "ravel of contiguous": lambda d: d["a"].ravel(),
    "ravel K of F-order": lambda d: d["f"].ravel("K"),
    "transpose of F-order": lambda d: d["f"].T,
    "swapaxes": lambda d: d["a"].swapaxes(0, 1),
    "np.moveaxis": lambda d: np.moveaxis(d["a"], 0, 1),
    "newaxis": lambda d: d["a"][None, :, None],
    "diagonal": lambda d: d["a"].diagonal(),
    "view(int64)": lambda d: d["a"].view("<i8"),
    "view(uint8) of a row": lambda d: d["a"][1].view("u1"),
    "field x": lambda d: d["st"]["x"],
    "field y (big-endian, offset 4)": lambda d: d["st"]["y"],
    "field s": lambda d: d["st"]["s"],
    "two fields": lambda d: d["st"][["x", "s"]],
    "real": lambda d: d["c"].real,
    "imag": lambda d: d["c"].imag,
    "byte-swapped dtype, reversed": lambda d: d["be"][::-1],
    "astype without copy": lambda d: d["a"].astype("f8", copy=False),
    "np.asanyarray": lambda d: np.asanyarray(d["a"]),
    "np.flip": lambda d: np.flip(d["a"]),
    "np.rot90": lambda d: np.rot90(d["a"]),
    "np.squeeze": lambda d: np.squeeze(d["a"][None]),
    "squeeze of a row": lambda d: d["a"][1:2].squeeze(),
    "squeeze of an axis": lambda d: d["a"][:, None, 2:3].squeeze(axis=1),
    "squeeze to 0-d": lambda d: d["a"][1:2, 3:4].squeeze(),
    "np.atleast_3d": lambda d: np.atleast_3d(d["a"]),
    "np.split, a part": lambda d: np.split(d["a"], 2)[1],
    "broadcast_to (read-only)": lambda d: np.broadcast_to(d["a"][2], (3, 6), subok=True),
    "sliding window (read-only)": lambda d: np.lib.stride_tricks.sliding_window_view(d["a"][0], 3, subok=True),
}

# Results in new memory: plain ndarrays (or numpy scalars), as numpy gives.
RESULTS: Dict[str, Callable[[Dict[str, Any]], Any]] = {
    "ravel of a strided view": lambda d: d["a"][:, ::2].ravel(),
    "ravel C of F-order": lambda d: d["f"].ravel(),
    "flatten": lambda d: d["a"].flatten(),
    "reshape of a strided view": lambda d: d["a"].T.reshape(24),
    "astype": lambda d: d["a"].astype("f4"),
    "copy": lambda d: d["a"].copy(),
    "copy.copy": lambda d: copy.copy(d["a"]),
    "copy.deepcopy": lambda d: copy.deepcopy(d["a"]),
    "np.array": lambda d: np.array(d["a"]),
    "fancy index": lambda d: d["a"][[0, 2]],
    "mask": lambda d: d["a"][d["a"] > 3],
    "ufunc": lambda d: np.sqrt(d["a"]),
    "sum keepdims": lambda d: d["a"].sum(axis=0, keepdims=True),
    "np.sum keepdims": lambda d: np.sum(d["a"], axis=1, keepdims=True),
    "cumsum": lambda d: d["a"].cumsum(),
    "byteswap": lambda d: d["a"].byteswap(),
    "round": lambda d: d["a"].round(),
    "clip": lambda d: d["a"].clip(1, 3),
    "take": lambda d: d["a"].take([1, 3]),
    "repeat": lambda d: d["a"].repeat(2),
    "argsort": lambda d: d["a"].argsort(),
    "argpartition": lambda d: d["a"].argpartition(2),
    "dot": lambda d: d["a"].dot(d["a"].T),
    "matmul": lambda d: d["a"] @ d["a"].T,
    "imag of a real array": lambda d: d["a"].imag,
    "np.zeros_like": lambda d: np.zeros_like(d["a"]),
    "np.ones_like": lambda d: np.ones_like(d["a"]),
    "np.full_like": lambda d: np.full_like(d["a"], 7),
    "np.copy subok": lambda d: np.copy(d["a"], subok=True),
    "np.nan_to_num": lambda d: np.nan_to_num(d["a"]),
    "np.split, a part of a copy": lambda d: np.split(d["a"].copy(), 2)[1],
}


@pytest.fixture
def shared() -> Dict[str, SharedArray]:
    return {k: ndshare.array(v) for k, v in _base().items()}


@pytest.mark.parametrize("make", VIEWS.values(), ids=VIEWS.keys())
def test_views_are_shared_arrays_of_the_same_segment(shared: Dict[str, SharedArray], make: Callable[..., Any]) -> None:
    v = make(shared)
    expected = make(_base())
    assert type(v) is SharedArray
    assert v.segment is not None
    assert (v.shape, v.dtype, v.flags.writeable) == (expected.shape, expected.dtype, expected.flags.writeable)
    assert v.strides == expected.strides or not v.size  # an empty array's strides mean nothing
    assert np.ascontiguousarray(v).tobytes() == np.ascontiguousarray(expected).tobytes()


@pytest.mark.parametrize("make", RESULTS.values(), ids=RESULTS.keys())
def test_results_in_new_memory_are_plain_arrays(shared: Dict[str, SharedArray], make: Callable[..., Any]) -> None:
    r = make(shared)
    expected = make(_base())
    assert type(r) is type(expected)
    assert not np.shares_memory(r, shared["a"])
    assert r.shape == expected.shape and r.dtype == expected.dtype
    assert np.ascontiguousarray(r).tobytes() == np.ascontiguousarray(expected).tobytes()


def test_asarray_is_a_plain_view_of_the_same_memory(shared: Dict[str, SharedArray]) -> None:
    a = shared["a"]
    for v in (np.asarray(a), np.array(a, copy=False), a.view(np.ndarray)):
        assert type(v) is np.ndarray and v.__array_interface__["data"] == a.__array_interface__["data"]


def test_elements_and_scalars_are_numpy_scalars(shared: Dict[str, SharedArray]) -> None:
    a, z0 = shared["a"], shared["z0"]
    assert type(a[0, 0]) is np.float64 and type(a[1][2]) is np.float64
    assert type(a.ravel()[3]) is np.float64
    assert type(z0[()]) is np.float64 and z0[()] == 3.5
    assert type(z0 + 1) is np.float64 and type(np.sqrt(z0)) is np.float64
    assert type(a.sum()) is np.float64 and type(z0.sum(keepdims=True)) is type(np.array(3.5).sum(keepdims=True))
    assert type(shared["st"][1]) is np.void and shared["st"][1]["x"] == 1
    assert type(a.flat[3]) is np.float64


def test_out_keeps_the_shared_array(shared: Dict[str, SharedArray]) -> None:
    a = shared["a"]
    o = a[1:, ::2]
    assert np.add(a[:3, 1::2], 100, out=o) is o
    assert a[1, 0] == 101.0 and a[3, 4] == 100 + 17
    z0 = shared["z0"]
    assert np.add(z0, 1, out=z0) is z0 and z0 == 4.5
    s = ndshare.zeros((1, 6))
    assert np.sum(a, axis=0, keepdims=True, out=s) is s
    np.testing.assert_array_equal(s, np.asarray(a).sum(axis=0, keepdims=True))
    q, r = np.divmod(a, 5, out=(ndshare.zeros((4, 6)), ndshare.zeros((4, 6))))
    assert type(q) is SharedArray and type(r) is SharedArray
    h = ndshare.zeros(3, dtype="i8")
    np.add.at(h, [0, 0, 2], 1)
    assert h.tolist() == [2, 0, 1]


# ---------------------------------------------------------------- pickling


def _receive(how: str, payload: Any) -> Tuple[Any, ...]:
    """In a spawned worker: load the view, describe it, then write 77 into its
    first element (if it has one and is writable) for the sender to see."""
    v = pickle.loads(payload) if how == "by_reference" else payload
    seen = (
        type(v).__name__,
        v.shape,
        v.strides,
        v.dtype.str,
        v.dtype.descr,
        bool(v.flags.writeable),
        np.ascontiguousarray(v).tobytes(),
    )
    if v.size and v.flags.writeable and v.dtype.kind in "iuf":
        v[(0,) * v.ndim] = 77
    return seen


def _try_to_write(how: str, payload: Any) -> Tuple[str, str]:
    """In a spawned worker: what writing, and unlocking writes, does."""
    v = pickle.loads(payload) if how == "by_reference" else payload
    results = []
    for attempt in (lambda: v.__setitem__(..., 9), lambda: setattr(v.flags, "writeable", True)):
        try:
            attempt()
            results.append("done")
        except ValueError:
            results.append("ValueError")
    return results[0], results[1]


def _put_tagged(q: Any) -> None:
    """In a child that returns at once: sends a subclass view of a new array."""
    q.put(ndshare.full((3, 4), 5.0).view(Tagged))


@pytest.fixture(scope="module")
def spawn_pool() -> Iterator[Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        yield pool


def _payload(how: str, v: Any) -> Any:
    if how != "by_reference":
        return v
    with ndshare.by_reference():
        return pickle.dumps(v)


@pytest.mark.parametrize("how", ["by_reference", "multiprocessing"])
@pytest.mark.parametrize("make", VIEWS.values(), ids=VIEWS.keys())
def test_each_view_arrives_as_the_same_view_of_the_same_memory(
    spawn_pool: Any, shared: Dict[str, SharedArray], how: str, make: Callable[..., Any]
) -> None:
    v = make(shared)
    sent = (v.shape, v.strides, v.dtype.str, v.dtype.descr, bool(v.flags.writeable), np.ascontiguousarray(v).tobytes())
    seen = spawn_pool.apply(_receive, (how, _payload(how, v)))
    assert seen == ("SharedArray",) + sent
    if v.size and v.flags.writeable and v.dtype.kind in "iuf":
        assert v[(0,) * v.ndim] == 77  # the worker wrote into this memory


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_sends_a_reference_by_reference(protocol: int) -> None:
    a = ndshare.array(np.arange(12.0).reshape(3, 4))
    for v in (a, a[::-1, 1], a[1, 2, ...], a.view("u1")):
        buffers: list = []
        kwargs: Dict[str, Any] = {"buffer_callback": buffers.append} if protocol >= 5 else {}
        with ndshare.by_reference():
            blob = pickle.dumps(v, protocol=protocol, **kwargs)
        assert buffers == [] and len(blob) < 1024
        w = pickle.loads(blob)
        assert type(w) is SharedArray and (w.shape, w.strides, w.dtype) == (v.shape, v.strides, v.dtype)
        assert w.__array_interface__["data"] == v.__array_interface__["data"]


def test_copies_are_private_and_save_load_match_numpy() -> None:
    src = np.arange(12.0).reshape(3, 4)
    a = ndshare.array(src)
    for c in (copy.copy(a), copy.deepcopy(a), copy.deepcopy({"k": a[::-1]})["k"]):
        assert type(c) is np.ndarray and not np.shares_memory(c, a)
    for v, expected in ((a, src), (a[:, ::-1], src[:, ::-1]), (a.T, src.T)):
        saved, by_numpy = io.BytesIO(), io.BytesIO()
        np.save(saved, v)
        np.save(by_numpy, expected)
        assert saved.getvalue() == by_numpy.getvalue()
        saved.seek(0)
        back = np.load(saved)
        assert type(back) is np.ndarray and back.tobytes() == expected.tobytes()


@pytest.mark.parametrize("how", ["by_reference", "multiprocessing"])
def test_read_only_arrives_read_only_and_stays_so(spawn_pool: Any, name: str, how: str) -> None:
    w = ndshare.full((2, 3), 4.0, name=name)
    r = ndshare.attach(name, readonly=True)
    flagged = w[1:]
    flagged.flags.writeable = False
    for v in (r, r[:, ::2], flagged):
        assert spawn_pool.apply(_try_to_write, (how, _payload(how, v))) == ("ValueError", "ValueError")
    assert (w == 4.0).all()


@pytest.mark.parametrize("how", ["by_reference", "multiprocessing"])
def test_a_view_pickled_after_unlink_reaches_its_memory(spawn_pool: Any, name: str, how: str) -> None:
    w = ndshare.zeros((2, 3), name=name)
    ndshare.unlink(name)
    assert spawn_pool.apply(_receive, (how, _payload(how, w[1:])))[0] == "SharedArray"
    assert w[1, 0] == 77
    other = ndshare.full(4, -1.0, name=name)  # the name now names another array
    assert spawn_pool.apply(_receive, (how, _payload(how, w[:, 1:])))[0] == "SharedArray"
    assert w[0, 1] == 77 and (other == -1).all()


def test_a_subclass_pickles_as_itself_by_both_routes() -> None:
    a = ndshare.zeros(4).view(Tagged)
    with ndshare.by_reference():
        plain = pickle.dumps(a[1:])
    forking = bytes(ForkingPickler.dumps(a[1:]))
    assert b"_rebuild_located" in plain
    assert b"_rebuild_dupfd" in forking  # the descriptor itself, as for a SharedArray
    for blob in (plain, forking):
        back = pickle.loads(blob)
        assert type(back) is Tagged and back.segment is a.segment and back.shape == (3,)
    with pytest.raises(TypeError, match="cannot arrive as"):
        view_of_segment(a.segment, a.dtype, a.shape, a.strides, 0, False, np.ndarray)  # type: ignore[arg-type]


def test_a_subclass_constructs_itself() -> None:
    t = Tagged((2, 3), "i4")
    assert type(t) is Tagged and t.shape == (2, 3) and t.dtype == np.int32 and t.segment is not None


def test_a_subclass_returned_by_a_child_arrives_as_itself() -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_put_tagged, args=(q,))
    p.start()
    got = q.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0
    assert type(got) is Tagged and got.shape == (3, 4) and (got == 5.0).all()


def test_a_pickled_then_dropped_array_is_freed_after_the_grace_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pickling by reference pins the segment for EXPORT_GRACE_SECONDS, then lets it
    go, even if the process pickles nothing more."""
    from ndshare import _keepalive, _mapped

    monkeypatch.setattr(_keepalive, "EXPORT_GRACE_SECONDS", 0.2)
    _keepalive.release_pins()
    a = ndshare.zeros(1 << 16)
    file_id = a.segment.file_id
    with ndshare.by_reference():
        pickle.dumps(a[1:])
    del a
    gc.collect()
    deadline = time.monotonic() + 15  # far beyond the grace: no timing is measured
    while _mapped.lookup(file_id, True) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        gc.collect()
    assert _mapped.lookup(file_id, True) is None
    assert tuple(file_id) not in _open_files()


def _open_files() -> set[tuple[int, int]]:
    """(dev, ino) of every file this process has open."""
    files = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            st = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue
        files.add((st.st_dev, st.st_ino))
    return files


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_sub_array_dtype_becomes_axes_as_numpy_makes_it_and_attaches_so(name: str, order: str) -> None:
    dt = np.dtype(("<i2", (2, 5)))
    expected = np.zeros((3, 4), dtype=dt, order=order)
    a = ndshare.zeros((3, 4), dtype=dt, order=order, name=name)
    a[...] = np.arange(120).reshape(3, 4, 2, 5)
    for b in (a, ndshare.attach(name), ndshare.from_handle(a.handle())):
        assert (b.shape, b.strides, b.dtype) == (expected.shape, expected.strides, expected.dtype)
        assert b.tolist() == np.arange(120).reshape(3, 4, 2, 5).tolist()
    assert ndshare.info(name).shape == (3, 4, 2, 5) and ndshare.info(name).dtype == "<i2"
