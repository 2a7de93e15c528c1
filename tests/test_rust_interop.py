"""Rust <-> Python: the same arrays, mapped by a Rust program and by numpy.

The Rust side is the `image_stack` example of the core crate
(examples/image_stack.rs), built once per session in release mode (`make
build` has already built it, so this is a no-op there).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from typing import Iterator

import numpy as np
import pytest
from conftest import rust_example

import ndshare

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def image_stack() -> pathlib.Path:
    return rust_example("image_stack")


def rust(binary: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120)


def pattern(frames: int, height: int, width: int) -> np.ndarray:  # type: ignore[type-arg]
    """What `image_stack create` writes (its `pattern` function)."""
    k, y, x = np.indices((frames, height, width))
    return ((k + 1) * (y * 3 + x) + 10.0 * k).astype(np.float32)


@pytest.fixture
def names(name: str) -> Iterator[tuple[str, str]]:
    """Two fresh names: a stack and its per-frame results."""
    second = name + "-means"
    yield name, second
    try:
        ndshare.unlink(second)
    except FileNotFoundError:
        pass


def test_rust_creates_python_attaches_and_rust_sees_the_writes(image_stack: pathlib.Path, name: str) -> None:
    r = rust(image_stack, "create", name, "5", "32", "48")
    assert r.returncode == 0, r.stderr
    handle = r.stdout.split("handle ")[-1].strip()
    stack = ndshare.attach(name)
    dev, ino = stack.segment.file_id  # type: ignore[union-attr]
    assert handle == f"ndshare:named:{dev}:{ino}:{name}", r.stdout
    assert ndshare.from_handle(handle).segment.file_id == (dev, ino)  # type: ignore[union-attr]
    assert type(stack) is ndshare.SharedArray
    assert stack.dtype == np.dtype("<f4") and stack.shape == (5, 32, 48)
    assert stack.flags.c_contiguous
    np.testing.assert_array_equal(stack, pattern(5, 32, 48))
    info = stack.info()
    assert info.named is True and info.creator_alive is False  # the Rust process has exited

    # Not yet normalized: the Rust check says so, with exit status 1.
    r = rust(image_stack, "check", name)
    assert r.returncode == 1 and "was NOT normalized" in r.stdout
    lo = stack.min(axis=(1, 2), keepdims=True)
    hi = stack.max(axis=(1, 2), keepdims=True)
    stack -= lo
    stack /= hi - lo
    r = rust(image_stack, "check", name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "was normalized by Python" in r.stdout


@pytest.mark.parametrize("order", ["C", "F"])
def test_python_creates_rust_computes_and_writes_back(
    image_stack: pathlib.Path, names: tuple[str, str], order: str
) -> None:
    images = np.random.default_rng(3).uniform(0, 1000, (4, 20, 30)).astype(np.float32)
    stack = ndshare.array(images, order=order, name=names[0])
    means = ndshare.full(4, -1.0, name=names[1])
    r = rust(image_stack, "process", *names)
    assert r.returncode == 0, r.stderr
    assert f"({order} order)" in r.stdout
    want = images.astype(np.float64).mean(axis=(1, 2))
    np.testing.assert_allclose(means, want, rtol=1e-12)
    # Rust subtracted the float32 mean from every float32 pixel.
    np.testing.assert_array_equal(stack, images - want.astype(np.float32)[:, None, None])
    assert stack.flags.f_contiguous == (order == "F")


def test_rust_refuses_the_wrong_dtype(image_stack: pathlib.Path, names: tuple[str, str]) -> None:
    stack = ndshare.full((2, 3, 3), 5.0, dtype=np.float64, name=names[0])
    ndshare.zeros(2, name=names[1])
    r = rust(image_stack, "process", *names)
    assert r.returncode == 2
    assert 'type mismatch: the segment holds "<f8", the caller asked for "<f4"' in r.stderr
    assert (stack == 5.0).all()  # never reinterpreted, never written


def test_rust_reports_a_missing_array(image_stack: pathlib.Path, name: str) -> None:
    r = rust(image_stack, "check", name)
    assert r.returncode == 2
    assert f'no shared array named "{name}"' in r.stderr


def test_rust_anonymous_array_reaches_python_through_its_handle(image_stack: pathlib.Path) -> None:
    """An anonymous array has no name: Rust prints its handle string, Python
    opens the holder's descriptor through /proc (checked to be the same
    memory) and writes into it while the Rust process keeps it."""
    proc = subprocess.Popen(
        [str(image_stack), "hold", "3", "16", "24"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        handle = proc.stdout.readline().strip()
        kind, pid, fd, dev, ino = handle.removeprefix("ndshare:").split(":")
        assert kind == "proc" and int(pid) == proc.pid
        stack = ndshare.from_handle(handle)
        assert type(stack) is ndshare.SharedArray
        assert stack.name is None and stack.dtype == np.float32 and stack.shape == (3, 16, 24)
        assert stack.handle() != handle  # this process's own descriptor of the same memory
        np.testing.assert_array_equal(stack, pattern(3, 16, 24))
        lo = stack.min(axis=(1, 2), keepdims=True)
        stack -= lo
        stack /= stack.max(axis=(1, 2), keepdims=True)
        # A handle naming other memory is refused, not followed.
        with pytest.raises(ndshare.UnreachableError):
            ndshare.from_handle(f"ndshare:proc:{pid}:{fd}:{dev}:{int(ino) + 1}")
        out, err = proc.communicate("\n", timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, out + err
    assert "the anonymous stack was normalized by Python" in out
    # The holder is gone; the memory lives on here, its handle no longer reaches it.
    assert stack[0, 0, 0] == 0.0
    with pytest.raises(ndshare.UnreachableError, match=str(proc.pid)):
        ndshare.from_handle(handle)


def test_python_anonymous_arrays_reach_rust_through_their_handles(image_stack: pathlib.Path) -> None:
    images = np.random.default_rng(5).uniform(0, 100, (3, 8, 10)).astype(np.float32)
    stack = ndshare.array(images)
    means = ndshare.full(3, -1.0)
    assert stack.name is None and stack.handle().startswith(f"ndshare:proc:{os.getpid()}:")
    r = rust(image_stack, "process", stack.handle(), means.handle())
    assert r.returncode == 0, r.stderr
    want = images.astype(np.float64).mean(axis=(1, 2))
    np.testing.assert_allclose(means, want, rtol=1e-12)
    np.testing.assert_array_equal(stack, images - want.astype(np.float32)[:, None, None])


def test_the_example_script_runs(image_stack: pathlib.Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "rust_python.py"),
            "--bin",
            str(image_stack),
            "--frames",
            "3",
            "--size",
            "64",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "rust <-> python: ok"
    assert sum("was normalized by Python" in line for line in lines) == 1
    assert sum("Rust's means match numpy's" in line for line in lines) == 2
    made = set(re.findall(r"example-(?:rust|py)-[a-z]+-[0-9a-f]{8}", r.stdout))
    assert len(made) == 5, made  # one Rust stack, then a stack and its means twice
    assert not [n for n in made if os.path.exists(os.path.join(ndshare._ndshare.SHM_DIR, "ndshare." + n))]
