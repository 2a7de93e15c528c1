"""Types: the package and the examples pass ``mypy --strict``; the stubs of
the compiled module match it (``mypy.stubtest`` imports it and compares)."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=280)


def test_mypy_strict_on_package_and_examples() -> None:
    # pyproject.toml's [tool.mypy]: strict, files = the package and examples/.
    proc = run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success: no issues found"), proc.stdout
    assert (ROOT / "python" / "ndshare" / "py.typed").exists()


def test_stubs_match_the_compiled_module() -> None:
    proc = run("mypy.stubtest", "ndshare._ndshare")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found in 1 module" in proc.stdout


# The documentation's programs, and what the types of the constructors carry.

DOCS = (ROOT / "README.md", ROOT / "docs" / "guide.md")

# --strict, except that a snippet may leave its functions unannotated, as
# documentation does (their bodies are still checked); libraries without
# types (joblib, distributed's dependencies) are taken as they are.
SNIPPET_FLAGS = (
    "--strict",
    "--allow-untyped-defs",
    "--allow-incomplete-defs",
    "--allow-untyped-calls",
    "--disable-error-code",
    "import-untyped",
    "--disable-error-code",
    "import-not-found",
)

DTYPE_CARRIED = """
from typing import Any

import numpy as np

import ndshare

f4: ndshare.SharedArray[Any, np.dtype[np.float32]] = ndshare.zeros(3, dtype="f4")
f8: ndshare.SharedArray[Any, np.dtype[np.float64]] = ndshare.zeros(3)
i8: ndshare.SharedArray[Any, np.dtype[np.int64]] = ndshare.full((2, 2), 7, dtype=np.int64)
u1: ndshare.SharedArray[Any, np.dtype[np.uint8]] = ndshare.array(np.zeros(4, dtype=np.uint8))
like: ndshare.SharedArray[Any, np.dtype[np.float32]] = ndshare.ones_like(ndshare.empty(2, "float32"))
c16: ndshare.SharedArray[Any, np.dtype[np.complex128]] = ndshare.asarray([1j], dtype=np.dtype(np.complex128))
anything: ndshare.SharedArray = ndshare.zeros(3, dtype="U4")
"""

DTYPE_WRONG = """
from typing import Any

import numpy as np

import ndshare

wrong: ndshare.SharedArray[Any, np.dtype[np.float64]] = ndshare.zeros(3, dtype="f4")
"""


def python_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", path.read_text(), flags=re.S | re.M)


def write_programs(tmp_path: pathlib.Path) -> list[str]:
    files = []
    for doc in DOCS:
        for i, code in enumerate(python_blocks(doc)):
            f = tmp_path / f"{doc.stem.lower()}_{i}.py"
            f.write_text(code)
            files.append(str(f))
    return files


def mypy_on(files: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    # --no-incremental and a cache of its own: these files are not the package's.
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull, *flags, *files],
        capture_output=True,
        text=True,
        timeout=280,
    )


def test_readme_and_guide_programs_type_check_with_mypy(tmp_path: pathlib.Path) -> None:
    files = write_programs(tmp_path)
    assert len(files) >= 20
    proc = mypy_on(files, *SNIPPET_FLAGS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_constructors_carry_the_dtype_for_mypy(tmp_path: pathlib.Path) -> None:
    right, wrong = tmp_path / "right.py", tmp_path / "wrong.py"
    right.write_text(DTYPE_CARRIED)
    wrong.write_text(DTYPE_WRONG)
    proc = mypy_on([str(right)], "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = mypy_on([str(wrong)], "--strict")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'has type "SharedArray[tuple[int, ...], dtype[floating[_32Bit]]]"' in proc.stdout, proc.stdout


def pyright(*files: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pyright", path=str(pathlib.Path(sys.executable).parent))
    if exe is None or shutil.which("node") is None:
        pytest.skip("pyright (requirements-dev.txt) or node is not installed")
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=280)
    except subprocess.TimeoutExpired:
        pytest.skip("pyright could not fetch its package")
    if version.returncode != 0:
        pytest.skip(f"pyright cannot run here: {version.stdout}{version.stderr}")
    return subprocess.run([exe, "--pythonpath", sys.executable, *files], capture_output=True, text=True, timeout=280)


def test_readme_and_guide_programs_type_check_with_pyright(tmp_path: pathlib.Path) -> None:
    proc = pyright(*write_programs(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_constructors_carry_the_dtype_for_pyright(tmp_path: pathlib.Path) -> None:
    right, wrong = tmp_path / "right.py", tmp_path / "wrong.py"
    right.write_text(DTYPE_CARRIED)
    wrong.write_text(DTYPE_WRONG)
    proc = pyright(str(right))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = pyright(str(wrong))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"float32" is not a subtype of "float64"' in proc.stdout, proc.stdout
