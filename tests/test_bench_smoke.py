"""The benchmark suite at its smallest (two tiny sizes, one repeat), so that
it cannot rot: every method runs every workflow and the parent verifies each
result. No timing is asserted here; the suite prints ratios and targets.
Neither Ray nor SharedArray is needed (``--smoke`` leaves Ray out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHES = Path(__file__).resolve().parent.parent / "benches"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    out.write_text("# Benchmarks\n\nkept above\n\n<!-- results:begin -->old<!-- results:end -->\n\nkept below\n")
    # The spawn workers import the suite's modules from the same path.
    sys.path.insert(0, str(BENCHES))
    try:
        import run

        res = run.main(["--smoke", "--out", str(out)])
    finally:
        sys.path.remove(str(BENCHES))
    return res, out.read_text()


def test_every_method_ran_every_workflow_without_failure(smoke: tuple) -> None:
    res, _ = smoke
    assert res.errors == {}
    ran = {(v, m) for (v, m, _size) in res.phases}
    for m in res.methods:
        if m.unavailable:
            continue
        for v in m.variants:
            assert (v, m.key) in ran, (v, m.key)
    want = {
        "fanin": {"compute", "collect", "e2e"},
        "sweep": {"setup", "e2e", "compute_first", "compute_warm"},
        "double": {"setup", "handoff", "compute", "collect", "e2e"},
        "sum": {"setup", "handoff", "compute", "collect", "e2e"},
    }
    for key, phases in res.phases.items():
        assert set(phases) == want[key[0]], key
        assert all(len(v) == 1 and v[0] > 0 for p, v in phases.items() if p not in ("collect", "setup")), key
    assert "ray" not in {m.key for m in res.methods}


def _ndshare_key(res: object) -> str:
    """The product's row: huge pages as they come, or 4 KiB pages where the build has none."""
    keys = {m.key for m in res.methods if not m.unavailable}  # type: ignore[attr-defined]
    return "ndshare" if "ndshare" in keys else "ndshare-4k"


def test_ndshare_pickles_a_reference_and_the_pickle_method_the_data(smoke: tuple) -> None:
    res, _ = smoke
    for size in res.config.sizes:
        assert res.task_bytes[("double", _ndshare_key(res), size)] < 1024
        # Pool.map sends the half itself: its bytes and a little framing.
        half = size // 2
        assert half < res.task_bytes[("double", "pickle", size)] < half + 1024


def test_memory_is_read_for_every_method(smoke: tuple) -> None:
    res, _ = smoke
    for m in res.methods:
        if not m.unavailable and "double" in m.variants:
            for size in res.config.sizes:
                assert (m.key, size) in res.memory, (m.key, size)


def test_report_replaces_only_its_section(smoke: tuple) -> None:
    res, text = smoke
    assert text.startswith("# Benchmarks\n\nkept above\n\n<!-- results:begin")
    assert text.rstrip().endswith("<!-- results:end -->\n\nkept below".rstrip())
    assert "old<!--" not in text
    assert "| target | measured | limit | result |" in text
    for m in res.methods:
        if not m.unavailable:
            assert f"| {m.label} |" in text or f"| **{m.label}** |" in text, m.label
    assert text.count("| hand-off above the pool's empty task,") == len(res.config.sizes)
    assert text.count("- **huge pages**: ") == 1
    assert text.count("### Sweep:") == 1


def test_micro_benchmarks_run_and_report_every_figure() -> None:
    r = subprocess.run(
        [sys.executable, str(BENCHES / "micro.py"), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    rows = [line for line in lines if line.startswith("  ")]
    assert len(rows) == 6 and all(line.count("|") == 2 for line in rows)
    assert any(line.startswith("attach + drop of a named array") for line in lines)
    assert any(line.startswith("ForkingPickler dump + load of a view") for line in lines)
