"""Generated cases: random shapes, dtypes, orders, slices and transposes,
sent through a process pool and back, match numpy's own results byte for
byte; and a segment's dtype descriptor, whatever it says, is a dtype of the
size the header gives or a FormatError."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from multiprocessing.reduction import ForkingPickler
from typing import Any, Iterator, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from numpy.lib.recfunctions import repack_fields

import ndshare
from ndshare import FormatError, SharedArray
from ndshare._dtype import from_descr

DTYPES = [
    "?", "i1", "u1", "<i2", ">u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", ">f8", "<c8", "<c16",
    "<M8[ns]", "<m8[s]", "S5", "<U3", "V4",
    [("a", "<i4"), ("b", "u1")],
    [("température", "<f4"), ("ß", "<i2"), ("温度", "u1")],
    {"names": ["x", "y"], "formats": ["<f8", "<i2"], "offsets": [0, 10], "itemsize": 16},
]  # fmt: skip

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def describe(x: np.ndarray) -> Tuple[Any, ...]:
    """What the receiving side sees: type, geometry, and the bytes in order.
    (The strides of an array with no element mean nothing and numpy does
    not keep them stable: left out there.)"""
    strides = x.strides if x.size else None
    data = np.ascontiguousarray(x)
    if x.dtype.names is not None:
        # The padding between fields is not data: copies leave it undefined.
        data = repack_fields(data)
    return (type(x).__name__, x.shape, strides, x.dtype.descr, data.tobytes())


def worker(x: np.ndarray) -> Tuple[Tuple[Any, ...], np.ndarray]:
    """Runs in the pool: describes what arrived and sends it back."""
    return describe(x), x


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    with mp.get_context("spawn").Pool(2) as p:
        yield p


@st.composite
def cases(draw: st.DrawFn) -> Tuple[np.ndarray, str, Any]:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    # Mostly non-empty axes: an empty one makes the whole array empty.
    shape = tuple(draw(st.lists(st.sampled_from([0] + [1, 2, 3, 4, 5, 6] * 4), min_size=0, max_size=4)))
    order = draw(st.sampled_from(["C", "F"]))
    n = int(np.prod(shape, dtype=np.int64))
    seed = draw(st.integers(0, 2**32 - 1))
    raw = np.random.default_rng(seed).integers(0, 256, size=n * dtype.itemsize, dtype=np.uint8)
    if dtype.kind == "b":
        raw &= 1
    if dtype.kind == "U":
        raw = np.where(np.arange(raw.size) % 4 == 0, 65 + raw % 26, 0).astype(np.uint8)
    src = np.ndarray(shape, dtype, buffer=raw.tobytes(), order=order).copy(order=order)
    # A view: per axis a slice (steps may be negative) or an index, then
    # maybe a transpose by a random permutation.
    index = []
    for d in shape:
        if d and draw(st.booleans()) and draw(st.integers(0, 4)) == 0:
            index.append(draw(st.integers(-d, d - 1)))
        else:
            start = draw(st.none() | st.none() | st.integers(-d - 1, d + 1))
            stop = draw(st.none() | st.none() | st.integers(-d - 1, d + 1))
            step = draw(st.none() | st.sampled_from([1, 2, 3, -1, -2]))
            index.append(slice(start, stop, step))
    perm = draw(st.none() | st.permutations(range(len(shape) - sum(isinstance(i, int) for i in index))))
    return src, order, (tuple(index), perm)


def apply(a: np.ndarray, view: Any) -> np.ndarray:
    index, perm = view
    v = a[index]
    if perm is not None and isinstance(v, np.ndarray):
        v = v.transpose(perm)
    return v


@SETTINGS
@given(case=cases())
def test_views_through_a_pool_match_numpy_byte_for_byte(pool: Any, case: Tuple[np.ndarray, str, Any]) -> None:
    src, order, view = case
    a = ndshare.array(src, order=order)
    assert describe(a)[1:] == describe(src)[1:]
    expected = apply(src, view)
    v = apply(a, view)
    if not isinstance(expected, np.ndarray):
        return  # an element, not a view: nothing shared to send
    # numpy.memmap's rule: a view keeps the segment if it shares memory,
    # which a view with no element does not.
    kind = "SharedArray" if v.size else "ndarray"
    assert describe(v) == (kind,) + describe(expected)[1:]
    seen, back = pool.apply(worker, (v,))
    event(f"sent {kind}, ndim {v.ndim}")
    if type(v) is SharedArray:
        assert seen == describe(v) and describe(back) == describe(v)
    else:
        # Sent as data, by numpy's own pickling (which, in numpy 2.4, turns
        # a big-endian dtype native): whatever numpy does, ndshare must too.
        by_numpy = pickle.loads(ForkingPickler.dumps(expected))
        assert seen == describe(by_numpy)
    if back.size:
        assert np.shares_memory(back, a), "it came back as the same memory, not a copy"


def dtype_of(x: np.ndarray) -> Tuple[Any, ...]:
    """Runs in the pool: the dtype that arrived, field names included."""
    return x.dtype, x.dtype.names, x.tobytes()


@SETTINGS
@given(
    names=st.lists(
        # Any characters, lone surrogates and control characters included.
        st.text(st.characters(exclude_categories=()), min_size=1, max_size=12),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    formats=st.lists(st.sampled_from(["<f4", "u1", ">i2", "S3", "<U2"]), min_size=4, max_size=4),
)
def test_any_field_names_cross_to_another_process(pool: Any, names: list[str], formats: list[str]) -> None:
    dt = np.dtype(list(zip(names, formats)))
    a = ndshare.zeros(3, dtype=dt)
    a.view(np.uint8)[...] = np.arange(a.nbytes, dtype=np.uint8).reshape(a.view(np.uint8).shape)
    seen, seen_names, data = pool.apply(dtype_of, (a,))
    assert seen == dt and seen_names == tuple(names) and data == a.tobytes()


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    descr=st.text(st.sampled_from(list("<>|=biuUfcSVMmO?ahlqdge0123456789[](),' ns:")), max_size=40),
    itemsize=st.integers(0, 64),
)
def test_any_descriptor_is_a_dtype_of_the_header_size_or_a_format_error(descr: str, itemsize: int) -> None:
    try:
        dt = from_descr(descr, itemsize)
    except FormatError:
        return
    assert dt.itemsize == itemsize and not dt.hasobject and dt.subdtype is None
