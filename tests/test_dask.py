"""Dask distributed on one machine: real worker processes, references both ways."""

from __future__ import annotations

import base64
import os
import pickle
import sys
from typing import Any, Iterator, Tuple

import numpy as np
import pytest
from conftest import run_python
from distributed import Client, LocalCluster
from distributed.protocol import serialize

import ndshare


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """One cluster for the module: two worker processes of one thread. The
    scheduler's HTTP server takes a free port (":0"): with None it still
    binds 8787, and warns (an error here) when another cluster has it."""
    with (
        LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0", worker_dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def fill_row(a: ndshare.SharedArray, i: int) -> Tuple[str, Tuple[int, int], int]:
    a[i] = i + 1
    return type(a).__name__, a.segment.file_id, os.getpid()


def make_array(n: int) -> Tuple[ndshare.SharedArray, Tuple[int, int], int]:
    b = ndshare.array(np.arange(n, dtype="f8"))
    return b, b.segment.file_id, os.getpid()


def total(a: Any) -> float:
    return float(np.asarray(a).sum())


def test_submit_and_map_write_into_the_parents_array(client: Client) -> None:
    a = ndshare.zeros((8, 100_000), dtype="i8")  # 6.4 MB: a copy would show
    first = client.submit(fill_row, a, 0, pure=False).result()
    rest = client.gather(client.map(fill_row, [a] * 7, range(1, 8), pure=False))
    for kind, file_id, pid in [first, *rest]:
        assert (kind, file_id) == ("SharedArray", a.segment.file_id)
        assert pid != os.getpid()
    np.testing.assert_array_equal(a, np.repeat(np.arange(1, 9)[:, None], 100_000, axis=1))


def test_views_travel_as_the_same_view(client: Client) -> None:
    a = ndshare.array(np.arange(24.0).reshape(4, 6))
    v = a[1:, ::2].T
    client.submit(np.multiply, v, -1, out=v, pure=False).result()
    expect = np.arange(24.0).reshape(4, 6)
    expect[1:, ::2] *= -1
    np.testing.assert_array_equal(a, expect)


def test_result_arrives_as_the_workers_memory(client: Client) -> None:
    b, worker_file, pid = client.submit(make_array, 1_000_000).result()
    assert pid != os.getpid()
    assert type(b) is ndshare.SharedArray and b.segment.file_id == worker_file
    np.testing.assert_array_equal(b, np.arange(1_000_000, dtype="f8"))


def test_scattered_array_is_shared(client: Client) -> None:
    a = ndshare.zeros((3, 50_000), dtype="i8")
    [remote] = client.scatter([a])
    kind, file_id, _ = client.submit(fill_row, remote, 2, pure=False).result()
    assert (kind, file_id) == ("SharedArray", a.segment.file_id)
    assert (a[2] == 3).all() and not a[:2].any()


def test_distributed_serializes_a_reference() -> None:
    a = ndshare.zeros(1_000_000)
    header, frames = serialize(a)
    assert sum(len(memoryview(f)) for f in frames) < 1024
    from dask.sizeof import sizeof

    assert sizeof(a) < 1024  # what a worker holds is a mapping, not data


@pytest.mark.parametrize("order", ["ndshare first", "distributed first"])
def test_registration_whatever_the_import_order(order: str) -> None:
    imports = ["import ndshare", "from distributed.protocol import serialize, deserialize"]
    if order == "distributed first":
        imports.reverse()
    code = "\n".join(imports) + (
        "\nimport numpy as np, sys"
        "\na = ndshare.zeros(1_000_000)"
        "\nh, f = serialize(a)"
        "\nb = deserialize(h, f)"
        "\nassert sum(len(memoryview(x)) for x in f) < 1024, h"
        "\nassert type(b) is ndshare.SharedArray and np.shares_memory(a, b)"
        "\nmod = sys.modules['distributed.protocol.serialize']"
        "\nassert type(mod.__loader__).__name__ == 'SourceFileLoader', mod.__loader__"
        "\nprint(h['serializer'])"
    )
    assert run_python(code).stdout.strip() == "dask"


def test_a_reference_nobody_holds_is_an_error_not_data(client: Client) -> None:
    # A reference made by a process that has exited: nothing holds the
    # anonymous array any more, so no process can reach its memory.
    made = run_python(
        "import base64, ndshare, pickle; a = ndshare.full((3, 4), 7.0)\n"
        "with ndshare.by_reference(): print(base64.b64encode(pickle.dumps(a)).decode())",
    )
    ref = base64.b64decode(made.stdout)
    with pytest.raises(ndshare.UnreachableError) as info:
        client.submit(pickle.loads, ref, pure=False).result()
    msg = str(info.value)
    assert "anonymous shared array (float64, shape (3, 4))" in msg
    assert "has exited" in msg
    assert isinstance(info.value, FileNotFoundError)
    # The workers are fine and still take references.
    assert client.submit(total, ndshare.ones(10), pure=False).result() == 10.0


def test_remote_exception_types_survive_pickling() -> None:
    for exc in (ndshare.UnreachableError("x"), ndshare.FormatError("y")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
    assert sys.modules["ndshare"].UnreachableError.__module__ == "ndshare"
