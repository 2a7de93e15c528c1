"""Types: the package and the examples pass ``mypy --strict``; the stubs of
the compiled module match it (``mypy.stubtest`` imports it and compares)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

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
