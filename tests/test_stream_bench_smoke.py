"""The streaming benchmark at its smallest, so that it cannot rot: every
installed method streams every item to its consumers (the suite checks the
counts and that no frame is torn). No timing is asserted here."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHES = Path(__file__).resolve().parent.parent / "benches"


def test_every_stream_method_runs_and_the_section_is_written(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nkept above\n")
    sys.path.insert(0, str(BENCHES))
    try:
        import stream

        res = stream.main(["--smoke", "--out", str(out)])
        runnable = {m.label for m in stream.METHODS if m.available() is None}
    finally:
        sys.path.remove(str(BENCHES))
    assert res.errors == {}
    assert {"ndshare.Ring", "multiprocessing.Queue", "SharedMemory slots + index queues"} <= set(res.rows)
    assert set(res.rows) == runnable  # every installed adapter is measured, the rest say why not
    assert set(res.unavailable) == {m.label for m in stream.METHODS} - runnable | set(stream.NOT_MEASURED)
    for row in res.rows.values():
        assert row["fps"] > 0 and row["p50_us"] > 0 and row["wall_s"] > 0
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept above\n")
    assert "| ndshare.Ring |" in text and text.count("<!-- stream:begin -->") == 1
