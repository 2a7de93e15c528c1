"""Structured dtypes whose field names are not ASCII cross every channel to
another process: by name, by pickle through multiprocessing, and to the Rust
core (the `ndshare` command reads the header in a process of its own)."""

from __future__ import annotations

import json
import multiprocessing as mp
import pickle
import subprocess
import sys
import uuid
from typing import Any, Iterator, Tuple

import numpy as np
import pytest
from conftest import run_python

import ndshare
from ndshare._dtype import to_descr

SPAWN = mp.get_context("spawn")

#: Field names of several scripts, and ones that only an escape can write.
NAMES = {
    "latin": np.dtype([("température", "<f4"), ("ß", "<i2")]),
    "cjk": np.dtype([("温度", "<f8"), ("压力", "<i4"), ("名前", "S3")]),
    "nested": np.dtype([("α", [("β", "<u2"), ("γ", "<f4")]), ("ε", "<i8", (2,))]),
    "nul and surrogate": np.dtype([("a\0b", "<i2"), ("\ud800", "<u1"), ("\U0001f600", "<f2")]),
    "quotes and controls": np.dtype([('it\'s "x"', "<i4"), ("tab\there\n", "<f4")]),
}


def filled(dt: np.dtype[Any], n: int = 5) -> np.ndarray:
    """`n` elements of `dt` whose bytes all differ."""
    return np.frombuffer(np.arange(n * dt.itemsize, dtype=np.uint8).tobytes(), dtype=dt).copy()


@pytest.fixture
def name() -> Iterator[str]:
    n = f"dtypes-{uuid.uuid4().hex[:12]}"
    yield n
    try:
        ndshare.unlink(n)
    except FileNotFoundError:
        pass


def describe(a: np.ndarray) -> Tuple[Any, ...]:
    """What a receiver sees: the dtype (names included) and the bytes."""
    return (type(a).__name__, a.dtype.descr, a.shape, a.tobytes())


def echo(a: np.ndarray) -> Tuple[Tuple[Any, ...], np.ndarray]:
    """Runs in another process: what arrived, and the array sent back."""
    a[0] = a[1]
    return describe(a), a


def put(a: np.ndarray, q: Any) -> None:
    a[-1] = a[0]
    q.put(describe(a))


@pytest.mark.parametrize("dt", NAMES.values(), ids=list(NAMES))
def test_by_name_in_another_process(dt: np.dtype[Any], name: str) -> None:
    a = ndshare.zeros(5, dtype=dt, name=name)
    a[...] = filled(dt)
    code = (
        "import sys, pickle, ndshare\n"
        "b = ndshare.attach(sys.argv[1])\n"
        "b[0] = b[4]\n"
        "sys.stdout.buffer.write(pickle.dumps((b.dtype, b.tobytes())))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, name], capture_output=True, check=True, timeout=120)
    seen_dtype, seen_bytes = pickle.loads(out.stdout)
    assert seen_dtype == dt and seen_dtype.names == dt.names
    expected = filled(dt)
    expected[0] = expected[4]
    assert seen_bytes == expected.tobytes()
    assert a.tobytes() == expected.tobytes()  # the write came through the shared memory


@pytest.mark.parametrize("dt", NAMES.values(), ids=list(NAMES))
def test_through_a_spawned_pool_and_back(dt: np.dtype[Any]) -> None:
    a = ndshare.array(filled(dt))
    with SPAWN.Pool(1) as pool:
        seen, back = pool.apply(echo, (a,))
    assert seen[1] == dt.descr and seen[0] == "SharedArray"
    assert back.dtype == dt and back.dtype.names == dt.names
    assert np.shares_memory(back, a)
    assert a[0].tobytes() == filled(dt)[1].tobytes()


@pytest.mark.parametrize("dt", NAMES.values(), ids=list(NAMES))
def test_as_a_spawned_process_argument(dt: np.dtype[Any]) -> None:
    a = ndshare.array(filled(dt))
    q = SPAWN.Queue()
    p = SPAWN.Process(target=put, args=(a[1:], q))
    p.start()
    seen = q.get(timeout=120)
    p.join(120)
    assert p.exitcode == 0
    assert seen[0] == "SharedArray" and seen[1] == dt.descr
    assert a[-1].tobytes() == a[1].tobytes() == filled(dt)[1].tobytes()


@pytest.mark.parametrize("dt", NAMES.values(), ids=list(NAMES))
def test_the_rust_core_reads_the_descriptor_and_item_size(dt: np.dtype[Any], name: str) -> None:
    ndshare.zeros((2, 3), dtype=dt, name=name)
    out = run_python(
        "import ndshare, sys; sys.exit(ndshare._ndshare.cli_main(['ndshare', 'info', '--json', sys.argv[1]]))", name
    )
    info = json.loads(out.stdout)
    assert info["dtype"] == to_descr(dt)
    assert info["itemsize"] == dt.itemsize
    assert info["shape"] == [2, 3]


def test_a_descriptor_too_long_to_store_is_a_type_error_naming_its_size() -> None:
    dt = np.dtype([("é" * 40_000, "<f4")])  # 80 000 bytes of UTF-8
    with pytest.raises(TypeError, match=r"descriptor .* bytes"):
        ndshare.zeros(1, dtype=dt)
