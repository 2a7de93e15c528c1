"""The benchmark suite: `make bench` runs this file.

    python benches/run.py            # 8 MiB, 128 MiB, 1 GiB; writes docs/benchmarks.md and .png
    python benches/run.py --quick    # 8 MiB and 128 MiB, 3 repeats
    python benches/run.py --smoke    # tiny sizes, one repeat, no chart (the test suite runs it)

Absolute times on a shared machine are noisy: read the ratios, each taken
against references measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shlex
import sys
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import report  # noqa: E402
from methods import METHODS  # noqa: E402
from suite import VARIANTS, Config, Results, run_suite  # noqa: E402

ROOT = HERE.parent
MiB = 1 << 20


def parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    for suffix, mult in (("K", 1 << 10), ("M", MiB), ("G", 1 << 30)):
        if t.endswith(suffix):
            return int(float(t[:-1]) * mult) // 64 * 64
    return int(t) // 64 * 64


def main(argv: Optional[List[str]] = None) -> Results:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", help="comma-separated array sizes, e.g. 8M,128M,1G")
    ap.add_argument("--repeats", type=int, help="repeats per size (default 5)")
    ap.add_argument("--repeats-large", type=int, help="repeats from 512 MiB on (default 3)")
    ap.add_argument("--quick", action="store_true", help="8 MiB and 128 MiB, 3 repeats")
    ap.add_argument("--smoke", action="store_true", help="1 MiB and 2 MiB, one repeat, no chart, no Ray")
    ap.add_argument("--methods", help=f"comma-separated subset of {','.join(METHODS)}")
    ap.add_argument("--variants", help=f"comma-separated subset of {','.join(VARIANTS)}")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory reading")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="Markdown file to update")
    ap.add_argument("--chart", default=str(ROOT / "docs" / "benchmarks.png"), help="PNG chart to write")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--save", help="also keep the raw readings in this file (pickle)")
    ap.add_argument("--report-from", help="write the report from readings kept with --save; run nothing")
    a = ap.parse_args(argv)

    sizes = [8 * MiB, 128 * MiB, 1024 * MiB]
    repeats, repeats_large = 5, 3
    if a.quick:
        sizes, repeats = [8 * MiB, 128 * MiB], 3
    if a.smoke:
        sizes, repeats, repeats_large = [1 * MiB, 2 * MiB], 1, 1
    if a.sizes:
        sizes = [parse_size(s) for s in a.sizes.split(",")]
    repeats = a.repeats or repeats
    repeats_large = a.repeats_large or min(repeats_large, repeats)
    cfg = Config(
        sizes=sizes,
        repeats=repeats,
        repeats_large=repeats_large,
        methods=a.methods.split(",") if a.methods else [k for k in METHODS if not (a.smoke and k == "ray")],
        variants=a.variants.split(",") if a.variants else list(VARIANTS),
        memory=not a.no_memory,
        log=lambda s: print(s, flush=True),
    )
    if a.report_from:
        with open(a.report_from, "rb") as f:
            res = pickle.load(f)
    else:
        res = run_suite(cfg)
    if a.save:
        res.config.log = print
        with open(a.save, "wb") as f:
            pickle.dump(res, f)

    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    chart_rel: Optional[str] = None
    if not (a.no_chart or a.smoke):
        try:
            Path(a.chart).parent.mkdir(parents=True, exist_ok=True)
            report.chart(res, a.chart)
            chart_rel = os.path.relpath(a.chart, os.path.dirname(os.path.abspath(a.out)))
        except Exception as e:  # the tables matter more than the picture
            print(f"no chart: {e!r}", file=sys.stderr)
    command = "python benches/run.py" + (
        "" if argv is None and len(sys.argv) == 1 else " " + shlex.join(argv if argv is not None else sys.argv[1:])
    )
    report.write_markdown(a.out, report.markdown(res, command, chart_rel))
    print()
    print("\n".join(report.summary_lines(res)))
    print(f"\nwrote {a.out}" + (f" and {a.chart}" if chart_rel else ""))
    return res


if __name__ == "__main__":
    main()
