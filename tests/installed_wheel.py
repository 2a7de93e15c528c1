"""Uses ndshare as a new user would after `pip install ndshare-*.whl`: run
from a fresh virtual environment (numpy and the wheel alone) outside the
checkout, by `make test-wheel`. Not a pytest module: it is this
environment's whole check, and it fails loudly.

Usage: python installed_wheel.py path/to/seed_example.py
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pathlib
import shutil
import subprocess
import sys
import uuid

import numpy as np

import ndshare


def double(a: ndshare.SharedArray) -> float:
    a *= 2  # in place: the parent must see it
    return float(a.sum())


def main() -> None:
    installed = pathlib.Path(ndshare.__file__).resolve()
    assert pathlib.Path(sys.prefix).resolve() in installed.parents, (
        f"ndshare imported from {installed}, not the environment"
    )

    # The tutorial example, as the README runs it.
    out = subprocess.run([sys.executable, sys.argv[1]], capture_output=True, text=True, check=True).stdout
    assert "[0. 0. 0." in out.splitlines()[-1], out

    # A Pool round trip under spawn: by reference, written in place.
    a = ndshare.array(np.arange(1000.0))
    with mp.get_context("spawn").Pool(2) as pool:
        sums = pool.map(double, [a[:500], a[500:]])
    assert sums == [2 * np.arange(500.0).sum(), 2 * np.arange(500.0, 1000.0).sum()], sums
    assert (a == 2 * np.arange(1000.0)).all()

    # The command is on PATH, and lists a named array.
    name = f"wheel-{uuid.uuid4().hex[:8]}"
    exe = shutil.which("ndshare")
    assert exe is not None and pathlib.Path(exe).resolve().parent == pathlib.Path(sys.executable).parent.resolve(), exe
    with ndshare.zeros((2, 3), dtype="i4", name=name):
        listed = json.loads(subprocess.run([exe, "list", "--json"], capture_output=True, text=True, check=True).stdout)
        assert any(e["name"] == name for e in listed), listed
    print(f"installed wheel: seed example, Pool round trip and `ndshare list` work from {os.path.dirname(installed)}")


if __name__ == "__main__":
    main()
