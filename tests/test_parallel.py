"""ndshare.parallel.map_blocks: blocks in worker processes, in place or into out."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing as mp
import os
import subprocess
import sys
from typing import Any, Iterator

import numpy as np
import pytest

import ndshare
from ndshare import SharedArray
from ndshare.parallel import map_blocks


def stamp_pid(block: SharedArray) -> None:
    block[...] = os.getpid()


def double(block: SharedArray) -> None:
    block *= 2


def stamp_length(block: SharedArray) -> None:
    block[...] = block.shape[0]


def column_sums_and_layout(block: SharedArray) -> Any:
    """Row 0: the block's column sums; row 1: 1 if the block is a Fortran-
    ordered SharedArray view (what a block of an F array along axis 1 is)."""
    ok = type(block) is SharedArray and block.segment is not None and block.flags.f_contiguous
    return np.vstack([block.sum(axis=0), np.full(block.shape[1], int(ok))])


def fail_on(marker: int, block: SharedArray) -> None:
    if (block == marker).any():
        raise ValueError(f"found {marker}")
    block += 1000


def returns_new(block: SharedArray) -> Any:
    return block + 1


def sqrt_in_place(block: SharedArray) -> Any:
    return np.sqrt(block, out=block)


@pytest.fixture(params=["pool", "executor"])
def pool(request: pytest.FixtureRequest, ctx: mp.context.BaseContext) -> Iterator[Any]:
    """A pool of two workers of each kind and start method, made by the caller."""
    if request.param == "pool":
        with ctx.Pool(2) as p:  # type: ignore[attr-defined]
            yield p
    else:
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
            yield ex


def test_in_place_default_pool() -> None:
    src = np.arange(10_000, dtype="f8").reshape(100, 100)
    a = ndshare.array(src)
    assert map_blocks(double, a) is a
    np.testing.assert_array_equal(a, src * 2)


def test_blocks_run_in_the_pool_passed_in(pool: Any) -> None:
    a = ndshare.zeros(64, dtype="i8")
    map_blocks(stamp_pid, a, blocks=8, pool=pool)
    pids = set(a.tolist())
    # Workers still running after the call: those of the pool passed in (a
    # pool of map_blocks' own would be shut down by now).
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert pids <= {p.pid for p in mp.active_children()}
    # The pool is still open for more work.
    map_blocks(double, a, pool=pool)
    assert set(a.tolist()) == {2 * p for p in pids}


def test_fortran_array_along_axis_1_into_out(pool: Any) -> None:
    src = np.asfortranarray(np.arange(300 * 70, dtype="i8").reshape(300, 70))
    a = ndshare.array(src)
    assert a.flags.f_contiguous
    out = ndshare.zeros((2, 70), dtype="i8")
    assert map_blocks(column_sums_and_layout, a, axis=1, blocks=7, out=out, pool=pool) is out
    np.testing.assert_array_equal(out[0], src.sum(axis=0))
    np.testing.assert_array_equal(out[1], np.ones(70, dtype="i8"))
    np.testing.assert_array_equal(a, src)  # the input is untouched


def test_uneven_blocks_and_negative_axis() -> None:
    a = ndshare.zeros((3, 10), dtype="i8")
    map_blocks(stamp_length, a.T, axis=-2, blocks=3, processes=2)
    np.testing.assert_array_equal(a[0], [4, 4, 4, 4, 3, 3, 3, 3, 3, 3])
    b = ndshare.zeros(5, dtype="i8")
    map_blocks(stamp_length, b, blocks=50, processes=2)  # at most one block per index
    np.testing.assert_array_equal(b, [1, 1, 1, 1, 1])


def test_first_failure_propagates_and_nothing_more_starts() -> None:
    # One worker: blocks 0 and 1 are queued (two per worker), block 0 fails;
    # block 1 may finish, blocks 2..7 must never start.
    a = ndshare.array(np.arange(80, dtype="i8"))
    with pytest.raises(ValueError, match="found 3") as info:
        map_blocks(functools.partial(fail_on, 3), a, blocks=8, processes=1)
    cause = str(info.value.__cause__)
    assert "fail_on" in cause and 'raise ValueError(f"found {marker}")' in cause  # the worker's traceback
    if sys.version_info >= (3, 11):
        assert info.value.__notes__ == ["in ndshare.parallel.map_blocks: block 0 of 8, indices 0:10 along axis 0"]
    np.testing.assert_array_equal(a[20:], np.arange(20, 80))
    assert a[10:20].tolist() in (list(range(10, 20)), list(range(1010, 1020)))


def test_failure_in_a_pool_passed_in(pool: Any) -> None:
    a = ndshare.array(np.arange(40, dtype="i8"))
    with pytest.raises(ValueError, match="found 35") as info:
        map_blocks(functools.partial(fail_on, 35), a, blocks=4, pool=pool)
    if sys.version_info >= (3, 11):
        assert "block 3 of 4, indices 30:40" in info.value.__notes__[0]
    np.testing.assert_array_equal(a[:30], np.arange(1000, 1030))  # the other blocks ran
    np.testing.assert_array_equal(a[30:], np.arange(30, 40))


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    a = ndshare.zeros(1000)
    map_blocks(double, a, blocks=8, processes=2, progress=True)
    err = capsys.readouterr().err
    assert "double" in err and "8/8" in err and "100%" in err
    map_blocks(double, a, blocks=8, processes=2)
    assert capsys.readouterr().err == ""


def test_results_must_not_be_lost() -> None:
    a = ndshare.ones(10)
    with pytest.raises(TypeError, match="returned a ndarray .* pass out="):
        map_blocks(returns_new, a, blocks=2, processes=1)
    map_blocks(sqrt_in_place, ndshare.full(4, 9.0), processes=1)  # returns the block itself: fine
    out = ndshare.zeros(10)
    with pytest.raises(TypeError, match="returned None, but out="):
        map_blocks(double, a, out=out, blocks=2, processes=1)


def test_thread_pool_works_too() -> None:
    a = ndshare.array(np.arange(100.0))
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        map_blocks(double, a, pool=ex)
    np.testing.assert_array_equal(a, np.arange(100.0) * 2)


def test_arguments_checked_before_any_work() -> None:
    a = ndshare.zeros((4, 6))
    with pytest.raises(TypeError, match="needs a SharedArray"):
        map_blocks(double, np.zeros(4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        map_blocks(double, a, axis=2)
    with pytest.raises(ValueError, match="blocks must be at least 1"):
        map_blocks(double, a, blocks=0)
    with pytest.raises(ValueError, match="length 6 along axis 1"):
        map_blocks(double, a, axis=1, out=ndshare.zeros((4, 5)))
    with pytest.raises(TypeError, match="out must be a SharedArray"):
        map_blocks(double, a, out=np.zeros((4, 6)))  # type: ignore[arg-type]
    ro = a.view()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        map_blocks(double, ro)
    with pytest.raises(TypeError, match="pool must be"):
        map_blocks(double, a, pool=object())  # type: ignore[arg-type]
    assert not a.any()


def test_empty_axis_does_nothing() -> None:
    e = ndshare.zeros((0, 3))
    assert map_blocks(double, e, pool=object()) is e  # type: ignore[arg-type]


def test_module_example() -> None:
    import doctest

    import ndshare.parallel

    result = doctest.testmod(ndshare.parallel)
    assert (result.attempted, result.failed) == (8, 0)


def test_blocks_without_elements_may_be_returned_in_place() -> None:
    # An empty axis other than the one cut: the blocks have no element, and
    # so share no memory with anything; returning the block itself is fine.
    for a in (ndshare.zeros((3, 0)), ndshare.zeros((2, 0, 3))):
        axis = a.ndim - 1 if a.shape[-1] else 0
        assert map_blocks(sqrt_in_place, a, axis=axis, processes=1) is a


# --- functions that travel by value, several inputs, overlap -------------


def test_lambda_and_closure_under_spawn() -> None:
    a = ndshare.array(np.arange(40.0))
    offset = ndshare.full(40, 100.0)  # reached by the closure, by reference
    out = ndshare.zeros(40)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        map_blocks(lambda b: b * 3, a, out=out, blocks=4, pool=pool)
        np.testing.assert_array_equal(out, np.arange(40.0) * 3)

        def shift(b: SharedArray) -> None:
            b += offset[: len(b)]

        map_blocks(shift, a, blocks=4, pool=pool)
    np.testing.assert_array_equal(a, np.arange(40.0) + 100)


#: A program whose function is defined in __main__ without a file (like a
#: notebook cell): spawn workers cannot import it by name.
MAIN_FUNCTION = """
import multiprocessing as mp, sys
if sys.argv[1] == "without-cloudpickle":
    sys.modules["cloudpickle"] = None  # as if neither were installed
    sys.modules["joblib"] = None
import numpy as np, ndshare
from ndshare.parallel import map_blocks

def triple(block):
    block *= 3

mp.set_start_method("spawn")
a = ndshare.array(np.arange(10))
try:
    map_blocks(triple, a, blocks=2, processes=2)
except TypeError as e:
    print("TypeError:", e)
else:
    print(a.tolist())
"""


def test_function_of_main_under_spawn() -> None:
    out = subprocess.run(
        [sys.executable, "-c", MAIN_FUNCTION, "with-cloudpickle"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([3 * i for i in range(10)])


def test_without_cloudpickle_the_error_says_what_to_do() -> None:
    out = subprocess.run(
        [sys.executable, "-c", MAIN_FUNCTION, "without-cloudpickle"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("TypeError: map_blocks cannot send triple to worker processes")
    assert "Define it at module level" in out.stdout and "pip install cloudpickle" in out.stdout
    lam = "import ndshare, sys; sys.modules['cloudpickle'] = sys.modules['joblib'] = None\n" + (
        "from ndshare.parallel import map_blocks\n"
        "try:\n    map_blocks(lambda b: None, ndshare.zeros(4), processes=1)\n"
        "except TypeError as e:\n    print(e, '|', type(e.__cause__).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", lam], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "cannot send <lambda>" in out.stdout and "install cloudpickle" in out.stdout


def weighted_sum(x: SharedArray, y: SharedArray, w: SharedArray) -> Any:
    return x * w + y


def add_into_first(x: SharedArray, y: SharedArray) -> None:
    x += y.sum(axis=1)


def test_several_inputs(pool: Any) -> None:
    x = ndshare.array(np.arange(30.0).reshape(10, 3))
    y = ndshare.array(np.ones((10, 3)))
    w = ndshare.array(np.arange(10.0)[:, None])  # other axes may differ
    w.flags.writeable = False
    out = ndshare.zeros((10, 3))
    assert map_blocks(weighted_sum, x, y, w, out=out, blocks=3, pool=pool) is out
    np.testing.assert_array_equal(out, np.arange(30.0).reshape(10, 3) * np.arange(10.0)[:, None] + 1)
    v = ndshare.zeros(10)
    assert map_blocks(add_into_first, v, x, blocks=4, pool=pool) is v
    np.testing.assert_array_equal(v, np.arange(30.0).reshape(10, 3).sum(axis=1))


def three_point(block: SharedArray) -> Any:
    """1-2-1 over each index and its neighbours, zero beyond the ends."""
    p = np.pad(block, 1)
    return p[:-2] + 2 * p[1:-1] + p[2:]


def central_difference(block: SharedArray) -> Any:
    return np.gradient(block, axis=1)


@pytest.mark.parametrize("blocks", [1, 3, 7, 40])
def test_stencil_with_overlap(blocks: int) -> None:
    src = np.random.default_rng(blocks).normal(size=40)
    a = ndshare.array(src)
    out = ndshare.zeros(40)
    map_blocks(three_point, a, out=out, overlap=1, blocks=blocks, processes=2)
    np.testing.assert_allclose(out, np.convolve(src, [1.0, 2.0, 1.0], mode="same"), rtol=0, atol=1e-12)
    # Without the margin the edges of the blocks are wrong: the margin matters.
    if blocks > 1:
        map_blocks(three_point, a, out=out, blocks=blocks, processes=2)
        assert not np.allclose(out, np.convolve(src, [1.0, 2.0, 1.0], mode="same"))


def test_overlap_along_axis_1_of_a_fortran_array(pool: Any) -> None:
    src = np.asfortranarray(np.random.default_rng(0).normal(size=(5, 50)) ** 2)
    a = ndshare.array(src)
    out = ndshare.zeros((5, 50), order="F")
    map_blocks(central_difference, a, axis=1, out=out, overlap=2, blocks=6, pool=pool)
    np.testing.assert_allclose(out, np.gradient(src, axis=1), rtol=0, atol=1e-12)


def sum_of_block(block: SharedArray) -> Any:
    return block.sum()


def test_overlap_errors() -> None:
    a = ndshare.zeros(20)
    out = ndshare.zeros(20)
    with pytest.raises(ValueError, match="overlap needs out="):
        map_blocks(three_point, a, overlap=1)
    with pytest.raises(ValueError, match="overlap must be at least 0"):
        map_blocks(three_point, a, out=out, overlap=-1)
    with pytest.raises(ValueError, match="must not share memory with the inputs"):
        map_blocks(three_point, a, out=a, overlap=1)
    with pytest.raises(ValueError, match="must not share memory with the inputs"):
        map_blocks(weighted_sum, out, a, a, out=out[::-1], overlap=1)
    with pytest.raises(ValueError, match=r"one entry per index of its block along axis 0 \(length 6, margins"):
        map_blocks(sum_of_block, a, out=out, overlap=1, blocks=4, processes=1)
    assert not out.any()


def test_several_inputs_errors() -> None:
    a = ndshare.zeros((4, 6))
    with pytest.raises(ValueError, match=r"input 2 \(shape \(5, 6\)\) must have the first input's length 4 along ax"):
        map_blocks(add_into_first, a, ndshare.zeros((5, 6)))
    with pytest.raises(ValueError, match="input 3 .* length 6 along axis 1"):
        map_blocks(weighted_sum, a, a, ndshare.zeros((4, 5)), axis=1, out=ndshare.zeros((4, 6)))
    with pytest.raises(TypeError, match=r"needs a SharedArray \(input 2\), not ndarray"):
        map_blocks(add_into_first, a, np.zeros((4, 6)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="func must be callable"):
        map_blocks(3, a)  # type: ignore[arg-type]
    assert not a.any()
