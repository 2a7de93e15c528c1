"""The README's code and the examples run, and print what they claim."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest
from conftest import with_fresh_names

ROOT = pathlib.Path(__file__).resolve().parent.parent


def python_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(python_blocks(ROOT / "README.md"))))
def test_readme_snippet_runs(index: int, tmp_path: pathlib.Path) -> None:
    # A file, not -c: spawned workers must be able to import __main__.
    script = tmp_path / f"readme_{index}.py"
    script.write_text(with_fresh_names(python_blocks(ROOT / "README.md")[index]))
    subprocess.run([sys.executable, str(script)], check=True, timeout=120, cwd=tmp_path)


def test_seed_example_prints_the_five_observations() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_example.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    ones, zeros = "[1. 1. 1. 1. 1. 1. 1. 1. 1. 1.]", "[0. 0. 0. 0. 0. 0. 0. 0. 0. 0.]"
    assert out == [
        f"parent, numpy array:        {ones} (10000,)",
        f"parent, in shared memory:   {ones} 10000",
        f"child,  as received:        {ones} 10000",
        f"child,  after zeroing it:   {zeros} 10000",
        f"parent, after the child:    {zeros} 10000",
    ]


def test_workflows_example() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "workflows.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "collected 4 arrays: ['SharedArray', 'SharedArray', 'SharedArray', 'SharedArray']" in out
    assert "row means ~0: True row stds ~1: True" in out


def test_timing_example_small() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "timing.py"), "65536"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    for label in ("ndshare", "multiprocessing.Array", "pickling (Pool.map)"):
        assert f"| {label}" in out
