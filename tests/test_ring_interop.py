"""Rust <-> Python streams: the `ring_stream` example of the core crate
(examples/ring_stream.rs) produces for a Python consumer and consumes from a
Python producer, through the same named ring."""

from __future__ import annotations

import pathlib
import subprocess

import numpy as np
import pytest
from conftest import rust_example

import ndshare

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ring_stream() -> pathlib.Path:
    return rust_example("ring_stream")


def test_rust_producer_python_consumer(ring_stream: pathlib.Path, name: str) -> None:
    ring = ndshare.Ring((48, 64), "f4", 4, name=name)
    rust = subprocess.Popen([str(ring_stream), "produce", name, "200"], stdout=subprocess.PIPE, text=True)
    seen = []
    while True:
        try:
            item = ring.get(timeout=60)
        except ndshare.RingClosed:
            break
        with item as frame:
            assert frame.shape == (48, 64) and (frame == frame[0, 0]).all()
            seen.append(int(frame[0, 0]))
    out, _ = rust.communicate(timeout=60)
    assert rust.returncode == 0, out
    assert seen == list(range(200))


def test_python_producer_rust_consumer(ring_stream: pathlib.Path, name: str) -> None:
    ring = ndshare.Ring((16, 16), "f4", 3, name=name)
    rust = subprocess.Popen([str(ring_stream), "consume", name], stdout=subprocess.PIPE, text=True)
    for i in range(150):
        with ring.put(timeout=60) as frame:
            frame[...] = i
    ring.close()
    out, _ = rust.communicate(timeout=60)
    assert rust.returncode == 0
    assert out.split() == ["frames", "150", "sum", str(sum(range(150)))]


def test_a_ring_made_in_rust_is_opened_in_python(ring_stream: pathlib.Path, name: str) -> None:
    with subprocess.Popen(
        [str(ring_stream), "create", name, "2", "5", "7"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as rust:
        assert rust.stdout is not None
        assert rust.stdout.readline().strip() == "ready"
        ring = ndshare.attach_ring(name)
        assert (ring.shape, ring.dtype, ring.capacity, ring.mode) == ((2, 5), np.float32, 7, "queue")
        ring.put(np.ones((2, 5)))
        with ring.get(timeout=5) as a:
            assert a.sum() == 10
        rust.communicate("\n", timeout=30)
    assert rust.returncode == 0
