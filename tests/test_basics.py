"""Constructors, views, numpy manners (numpy.memmap's rules), errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import ndshare
from ndshare import SharedArray


def test_array_copies_any_array_like() -> None:
    src = np.arange(24, dtype="i4").reshape(4, 6)[:, ::2]  # non-contiguous
    a = ndshare.array(src)
    assert type(a) is SharedArray
    assert a.dtype == np.dtype("i4") and a.shape == (4, 3)
    np.testing.assert_array_equal(a, src)
    src[0, 0] = 99
    assert a[0, 0] == 0  # a copy
    np.testing.assert_array_equal(ndshare.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]])


@pytest.mark.parametrize("order", ["C", "F"])
def test_constructors(order: str) -> None:
    z = ndshare.zeros((3, 5), dtype="f4", order=order)
    assert z.dtype == np.float32 and z.shape == (3, 5) and not z.any()
    assert z.flags.c_contiguous == (order == "C") and z.flags.f_contiguous == (order == "F")
    assert (ndshare.ones((2, 2), order=order) == 1).all()
    assert (ndshare.full((2, 3), 7, dtype="i2", order=order) == 7).all()
    assert ndshare.full((2,), 1.5).dtype == np.float64
    e = ndshare.empty(4, dtype="u1", order=order)
    assert e.shape == (4,) and e.dtype == np.uint8


def test_like_constructors_follow_prototype() -> None:
    f = np.asfortranarray(np.ones((3, 4), dtype="i8"))
    z = ndshare.zeros_like(f)
    assert z.shape == (3, 4) and z.dtype == np.int64 and z.flags.f_contiguous and not z.any()
    assert (ndshare.ones_like(f) == 1).all()
    assert (ndshare.full_like(f, 3, dtype="f2") == 3).all()
    assert ndshare.empty_like(f, order="C").flags.c_contiguous
    assert ndshare.array(f).flags.f_contiguous


def test_zero_d_and_zero_size() -> None:
    v = ndshare.zeros((), dtype="i8")
    v[()] = 41
    v += 1
    assert v.shape == () and int(v) == 42
    assert pickle.loads(pickle.dumps(v))[()] == 42
    e = ndshare.zeros((0, 7))
    assert e.shape == (0, 7) and e.size == 0
    assert pickle.loads(pickle.dumps(e)).shape == (0, 7)


def test_views_stay_shared_results_decay() -> None:
    a = ndshare.array(np.arange(12.0).reshape(3, 4))
    for view in (a[1:], a.T, a.reshape(4, 3), a[:, 1], a[::2, ::-1], a.view("i8"), a.ravel()):
        assert type(view) is SharedArray, view
        assert view.segment is a.segment
    for result in (a + 1, a.copy(), a[[0, 2]], a[a > 3], a.sum(axis=0), np.sqrt(a), a.T.ravel(), a.astype("f4")):
        assert type(result) is np.ndarray, type(result)
    assert type(a.sum()) is np.float64
    assert type(a[1, 2]) is np.float64


def test_ufunc_out_keeps_shared() -> None:
    a = ndshare.zeros(5)
    b = ndshare.ones(5)
    r = np.add(b, 1, out=a)
    assert r is a and (a == 2).all()
    r2 = np.multiply(a, 2, out=b[:])
    assert type(r2) is SharedArray and (b == 4).all()


def test_object_dtype_is_refused() -> None:
    with pytest.raises(TypeError, match="Python objects"):
        ndshare.zeros(3, dtype=object)
    with pytest.raises(TypeError, match="Python objects"):
        ndshare.array(np.array([1, "a"], dtype=object))
    with pytest.raises(TypeError):
        ndshare.zeros(2, dtype=[("a", "i4"), ("b", object)])


@pytest.mark.parametrize(
    "shape, exc",
    [((-1,), ValueError), ((2, -3), ValueError), ((2**62, 2**3), ValueError), ((1.5,), TypeError), ("ab", TypeError)],
)
def test_bad_shapes(shape: object, exc: type) -> None:
    with pytest.raises(exc):
        ndshare.zeros(shape)  # type: ignore[arg-type]


def test_bad_dtype_and_order() -> None:
    with pytest.raises(TypeError):
        ndshare.zeros(3, dtype="not-a-dtype")
    with pytest.raises(ValueError, match="order"):
        ndshare.zeros(3, order="X")


def test_pickle_by_reference_is_a_small_reference() -> None:
    a = ndshare.zeros((4096, 1024))  # 32 MiB
    for v in (a, a[::2], a.T, a[10:20, 5], a.reshape(-1)):
        with ndshare.by_reference():
            blob = pickle.dumps(v)
        assert len(blob) < 1024, len(blob)
        w = pickle.loads(blob)
        assert type(w) is SharedArray and w.shape == v.shape and w.strides == v.strides
        assert np.shares_memory(w, a)


def test_decayed_array_pickles_as_data() -> None:
    a = ndshare.zeros(3)
    c = np.ndarray.copy(a)  # numpy's own copy keeps the subclass
    assert type(c) is SharedArray and c.segment is None
    back = pickle.loads(pickle.dumps(c))
    assert type(back) is np.ndarray and (back == 0).all()


@pytest.mark.parametrize("dtype", ["S", "U", ">U", "V"])
def test_a_flexible_dtype_without_a_size_is_sized_as_numpy_sizes_it(dtype: str) -> None:
    want = np.zeros(3, dtype=dtype).dtype  # S1, <U1, >U1; V0 stays V0
    assert ndshare.zeros(3, dtype=dtype).dtype == want
    assert ndshare.empty(3, dtype=dtype).dtype == want
    if dtype != "V":
        f = ndshare.full(2, "ab", dtype=dtype)
        g = np.full(2, "ab", dtype=dtype)
        assert f.dtype == g.dtype and f.tolist() == g.tolist()
