"""Shared fixtures: real processes, real /proc readings, names cleaned up."""

from __future__ import annotations

import multiprocessing as mp
import os
import pathlib
import re
import shutil
import subprocess
import sys
import uuid
from typing import Iterator

import pytest
from _procfs import shmem_kib  # noqa: F401 - re-exported for the tests

import ndshare

START_METHODS = ["fork", "spawn", "forkserver"]


@pytest.fixture(params=START_METHODS)
def ctx(request: pytest.FixtureRequest) -> mp.context.BaseContext:
    """A multiprocessing context for each start method."""
    return mp.get_context(request.param)


@pytest.fixture
def name() -> Iterator[str]:
    """A fresh array name, unlinked after the test if it still exists."""
    n = f"test-{uuid.uuid4().hex[:12]}"
    yield n
    try:
        ndshare.unlink(n)
    except FileNotFoundError:
        pass


def run_python(code: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs `python -c code args...` as a separate, unrelated process."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def with_fresh_names(code: str) -> str:
    """`code` (a snippet of the documentation) with every array name it gives
    as ``name="..."`` made unique, wherever it is quoted: two test runs on one
    machine, or a name left by a run that was killed, cannot collide."""
    for n in set(re.findall(r"""name=["']([^"']+)["']""", code)):
        fresh = f"{n}-{uuid.uuid4().hex[:8]}"
        code = re.sub(rf"""(["']){re.escape(n)}\1""", lambda m: f"{m.group(1)}{fresh}{m.group(1)}", code)
    return code


def pss_kib(pid: int) -> int:
    """Proportional set size of a process (shared pages divided among mappers)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss in smaps_rollup")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rust_example(name: str) -> pathlib.Path:
    """The release build of ``examples/<name>.rs``, built with the very
    command ``make build`` runs (a no-op there); the test is skipped when
    cargo is not installed."""
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("cargo is not installed: the Rust side cannot be built")
    root = pathlib.Path(__file__).resolve().parent.parent
    subprocess.run([cargo, "build", "--release", "--quiet", "--bins", "--examples"], cwd=root, check=True, timeout=280)
    binary = root / "target" / "release" / "examples" / name
    assert binary.is_file()
    return binary
