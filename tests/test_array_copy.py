"""ndshare.array copies through the file when the layouts agree: the bytes
must be exactly those of the source, in every layout and dtype, and visible
to another process."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

import ndshare

SOURCES = {
    "c-order": np.arange(24.0).reshape(2, 3, 4),
    "f-order": np.asfortranarray(np.arange(24, dtype="i8").reshape(4, 6)),
    "strided": np.arange(40, dtype="f4")[::3],
    "zero-d": np.array(7.5),
    "zero-size": np.zeros((0, 5)),
    "big-endian": np.arange(10, dtype=">i4"),
    "structured": np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i2"), ("b", "<f8")]),
    "several-pages": np.arange(3 * 4096 + 5, dtype="u1"),
}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_array_holds_exactly_the_source_bytes(kind: str) -> None:
    src = SOURCES[kind]
    a = ndshare.array(src)
    assert a.dtype == src.dtype and a.shape == src.shape
    assert a.tobytes(order="A") == src.tobytes(order="A")
    if src.flags.f_contiguous and not src.flags.c_contiguous:
        assert a.flags.f_contiguous


def _sum_in_child(a: ndshare.SharedArray, q: mp.Queue) -> None:  # type: ignore[type-arg]
    q.put(float(a.sum()))


def test_another_process_sees_the_copied_bytes() -> None:
    src = np.arange(300_000, dtype="f8")
    a = ndshare.array(src)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_sum_in_child, args=(a, q))
    p.start()
    assert q.get(timeout=60) == float(src.sum())
    p.join(60)
    assert p.exitcode == 0


def test_a_non_contiguous_source_is_copied_element_by_element() -> None:
    src = np.arange(20.0).reshape(4, 5).T  # F-contiguous view
    a = ndshare.array(src, order="C")
    assert a.flags.c_contiguous
    assert np.array_equal(a, src)
