"""The Markdown tables, the target check and the chart."""

from __future__ import annotations

import os
import platform
from typing import Dict, List, Optional, Tuple

import numpy as np

from measure import Stats, fmt_bytes, fmt_ms, fmt_stats_ms, median_of, size_label
from suite import Results

BEGIN = "<!-- results:begin (written by `make bench`; edit above or below) -->"
END = "<!-- results:end -->"

PHASES = (("setup", "setup"), ("handoff", "hand-off"), ("compute", "compute (slowest worker)"), ("e2e", "end-to-end"))
VARIANT_TITLES = {
    "double": "Each worker doubles its half in place",
    "sum": "Read-only: each worker sums its half",
    "fanin": "Fan-in: each worker creates an array of its half, doubled, and returns it",
}
SETUP_CASES = (
    ("memcpy", "memcpy into already-touched private memory (np.copyto)"),
    ("setup:numpy-new", "np.empty_like + np.copyto (fresh private memory)"),
    ("setup:shared_memory", "SharedMemory + np.copyto"),
    ("setup:SharedArray", "SharedArray.create + np.copyto"),
    ("setup:RawArray", "RawArray + np.frombuffer + np.copyto"),
    ("setup:ndshare", "**ndshare.array(x)** (through the file)"),
    ("setup:ndshare-mapping", "ndshare.empty + np.copyto (through the mapping; before)"),
    ("setup:touched-shared", "np.copyto into an already-touched shared array (what reuse would reach)"),
)


def med(res: Results, variant: str, method: str, size: int, phase: str) -> float:
    return median_of(res.phases.get((variant, method, size), {}).get(phase, []))


def ref(res: Results, case: str, size: int) -> float:
    return median_of(res.refs.get((case, size), []))


def _ratio(a: float, b: float) -> float:
    return a / b if b and b == b and a == a else float("nan")


def _fmt_ratio(r: float) -> str:
    return "–" if r != r else f"{r:.2f}x"


Target = Tuple[str, str, str, Optional[bool]]  # what, measured, limit, passed


def targets(res: Results) -> List[Target]:
    out: List[Target] = []
    sizes = res.config.sizes
    have = {m.key for m in res.methods if not m.unavailable}

    def row(what: str, value: float, limit: float, shown: str, unit: str = "x") -> None:
        ok = None if value != value else value <= limit
        lim = f"≤ {limit:g}{unit}" if unit == "x" else f"< {limit:g} {unit}"
        out.append((what, shown, lim, ok))

    for size in sizes:
        if size < 128 << 20:
            continue
        best = [(med(res, "double", k, size, "e2e"), k) for k in ("shared_memory", "SharedArray") if k in have]
        best = [b for b in best if b[0] == b[0]]
        if best:
            b, k = min(best)
            v = _ratio(med(res, "double", "ndshare", size, "e2e"), b)
            row(f"end-to-end {size_label(size)} ÷ best of SharedMemory, SharedArray ({k})", v, 0.5, _fmt_ratio(v))
    for size in sizes:
        h = med(res, "double", "ndshare", size, "handoff")
        ok = None if h != h else h < 1e6
        bare = ref(res, "pool-dispatch", size)
        out.append((f"hand-off to both workers, {size_label(size)}", f"{fmt_ms(h)} ms (an empty task: {fmt_ms(bare)} ms)", "< 1 ms", ok))
    for size in sizes:
        b = res.task_bytes.get(("double", "ndshare", size))
        out.append((f"pickled per task, {size_label(size)}", "–" if b is None else f"{b} B", "< 1 KiB", None if b is None else b < 1024))
    for size in sizes:
        v = _ratio(med(res, "double", "ndshare", size, "compute"), ref(res, "worker-double-private", size))
        alts = []
        for k in ("shared_memory", "SharedArray"):
            if k in have:
                alts.append(f"{k} {_fmt_ratio(_ratio(med(res, 'double', k, size, 'compute'), ref(res, 'worker-double-private', size)))}")
        shown = _fmt_ratio(v) + (f" ({', '.join(alts)})" if alts else "")
        row(f"worker compute ÷ private memory, {size_label(size)}", v, 1.15, shown)
    for size in sizes:
        v = _ratio(ref(res, "setup:ndshare", size), ref(res, "setup:shared_memory", size))
        row(f"ndshare.array(x) ÷ SharedMemory + copy, {size_label(size)}", v, 0.6, _fmt_ratio(v))
    for size in sizes:
        v = _ratio(ref(res, "setup:ndshare", size), ref(res, "memcpy", size))
        row(f"ndshare.array(x) in a loop ÷ np.copyto, {size_label(size)}", v, 1.2, _fmt_ratio(v))
    for size in sizes:
        v = res.memory.get(("ndshare", size), float("nan"))
        row(f"memory added ÷ array size, {size_label(size)}", v, 1.02, _fmt_ratio(v))
    return out


def _mark(ok: Optional[bool]) -> str:
    return "–" if ok is None else ("pass" if ok else "**miss**")


def markdown(res: Results, command: str, chart: Optional[str]) -> str:
    cfg = res.config
    L: List[str] = [BEGIN, ""]
    L.append(f"Command: `{command}`; sizes {', '.join(size_label(s) for s in cfg.sizes)}; "
             f"{cfg.repeats} repeats ({cfg.repeats_large} from 512 MiB); each cell is the median (min–max) in ms.")
    L.append("")
    L.append(f"Machine: {os.cpu_count()} cores, {_mem_total()}, Linux {platform.release()}, "
             f"Python {platform.python_version()}, numpy {np.__version__}; "
             f"THP for shmem: `{_read('/sys/kernel/mm/transparent_hugepage/shmem_enabled')}`; "
             f"load average at the end {', '.join(f'{v:.1f}' for v in os.getloadavg())}.")
    L.append("")
    for key, why in res.unavailable.items():
        L.append(f"- **{key} not measured**: {why}.")
    if res.unavailable:
        L.append("")
    L += ["### Targets", "", "| target | measured | limit | result |", "|---|---|---|---|"]
    for what, shown, limit, ok in targets(res):
        L.append(f"| {what} | {shown} | {limit} | {_mark(ok)} |")
    L.append("")
    if chart:
        L += [f"![end-to-end and phases]({chart})", ""]
    for variant in cfg.variants:
        L += [f"### {VARIANT_TITLES[variant]}", ""]
        for size in cfg.sizes:
            L += _variant_table(res, variant, size)
    L += ["### Getting x into memory", "",
          "One process; each way timed alone (creation and copy; freeing is not timed).", ""]
    head = "| way | " + " | ".join(size_label(s) for s in cfg.sizes) + " | ÷ SharedMemory + copy | ÷ memcpy |"
    L += [head, "|---|" + "---|" * (len(cfg.sizes) + 2)]
    big = cfg.sizes[-1]
    for case, label in SETUP_CASES:
        if not any((case, s) in res.refs for s in cfg.sizes):
            continue
        cells = [fmt_stats_ms(Stats.of(res.refs.get((case, s), []))) for s in cfg.sizes]
        r1 = _fmt_ratio(_ratio(ref(res, case, big), ref(res, "setup:shared_memory", big)))
        r2 = _fmt_ratio(_ratio(ref(res, case, big), ref(res, "memcpy", big)))
        L.append(f"| {label} | " + " | ".join(cells) + f" | {r1} | {r2} |")
    L += ["", f"Ratios at {size_label(big)}.", ""]
    if res.errors:
        L += ["### Failures", ""]
        for (variant, method, size), err in sorted(res.errors.items()):
            L.append(f"- {variant}, {method}, {size_label(size)}: `{err}`")
        L.append("")
    L.append(END)
    return "\n".join(L) + "\n"


def _variant_table(res: Results, variant: str, size: int) -> List[str]:
    cols = [p for p in PHASES if not (variant == "fanin" and p[0] in ("setup", "handoff"))]
    extra = ["return to parent"] if variant == "fanin" else []
    head = ["method"] + [c[1] for c in cols] + extra + ["end-to-end ÷ memcpy", "compute ÷ private"]
    if variant != "fanin":
        head.append("pickled per task")
    if variant == "double":
        head.append("memory added")
    L = [f"**{size_label(size)}**", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    memcpy = ref(res, "memcpy", size)
    private = ref(res, f"worker-{variant}-private", size)
    for m in res.methods:
        if variant not in m.variants or m.unavailable:
            continue
        key = (variant, m.key, size)
        if key in res.errors:
            L.append(f"| {m.label} | failed: `{res.errors[key]}` |")
            continue
        ph = res.phases.get(key, {})
        cells = [m.label if m.key != "ndshare" else f"**{m.label}**"]
        for p, _ in cols:
            cells.append(fmt_stats_ms(Stats.of(ph.get(p, []))))
        if extra:
            cells.append(fmt_stats_ms(Stats.of(ph.get("collect", []))))
        cells.append(_fmt_ratio(_ratio(median_of(ph.get("e2e", [])), memcpy)))
        cells.append(_fmt_ratio(_ratio(median_of(ph.get("compute", [])), private)))
        if variant != "fanin":
            b = res.task_bytes.get(key)
            cells.append("–" if b is None else fmt_bytes(b))
        if variant == "double":
            mem = res.memory.get((m.key, size))
            cells.append("–" if mem is None else f"{mem:.2f}x")
        L.append("| " + " | ".join(cells) + " |")
    refs = [f"memcpy of x {fmt_stats_ms(Stats.of(res.refs.get(('memcpy', size), [])))} ms"]
    if variant == "double":
        refs.append(f"one `x *= 2` pass on private memory {fmt_stats_ms(Stats.of(res.refs.get(('double-private', size), [])))} ms")
    if variant == "sum":
        refs.append(f"one `x.sum()` on private memory {fmt_stats_ms(Stats.of(res.refs.get(('sum-private', size), [])))} ms")
    if variant != "fanin":
        refs.append(f"the pool's latency (submit to an empty task's start in both workers) {fmt_stats_ms(Stats.of(res.refs.get(('pool-dispatch', size), [])))} ms")
    refs.append(f"the same pass on private memory in both workers {fmt_stats_ms(Stats.of(res.refs.get((f'worker-{variant}-private', size), [])))} ms")
    L += ["", "References: " + "; ".join(refs) + ".", ""]
    return L


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def _mem_total() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / (1 << 20):.0f} GiB RAM"
    return "RAM unknown"


def write_markdown(path: str, section: str) -> None:
    """Replaces the results section of ``path``, keeping what is around it."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
    opening = BEGIN.split(" (", 1)[0]  # "<!-- results:begin", whatever follows it
    if opening in text and END in text.split(opening, 1)[1]:
        head, rest = text.split(opening, 1)
        _, tail = rest.split(END, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def chart(res: Results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = res.config
    methods = [m for m in res.methods if not m.unavailable and "double" in m.variants]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    width = 0.8 / max(len(methods), 1)
    xs = np.arange(len(cfg.sizes))
    for i, m in enumerate(methods):
        vals = [_ratio(med(res, "double", m.key, s, "e2e"), ref(res, "memcpy", s)) for s in cfg.sizes]
        ax1.bar(xs + i * width - 0.4 + width / 2, vals, width, label=m.label)
    ax1.set_xticks(xs, [size_label(s) for s in cfg.sizes])
    ax1.set_yscale("log")
    ax1.set_ylabel("end-to-end ÷ memcpy of x (lower is better)")
    ax1.set_title("Double in place with 2 pool workers")
    ax1.legend(fontsize=7)
    big = cfg.sizes[-1]
    labels = [m.label for m in methods]
    left = np.zeros(len(methods))
    for phase, name in (("setup", "setup"), ("handoff", "hand-off"), ("compute", "compute"), ("rest", "collect + verify")):
        vals = []
        for m in methods:
            if phase == "rest":
                parts = sum(med(res, "double", m.key, big, p) for p in ("setup", "handoff", "compute"))
                v = med(res, "double", m.key, big, "e2e") - parts
            else:
                v = med(res, "double", m.key, big, phase)
            vals.append(max(v, 0.0) / 1e6 if v == v else 0.0)
        ax2.barh(labels, vals, left=left, label=name)
        left += np.array(vals)
    ax2.invert_yaxis()
    ax2.set_xlabel("ms (median)")
    ax2.set_title(f"Where the time goes, {size_label(big)}")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_lines(res: Results) -> List[str]:
    return [f"{_mark(ok):8s} {what}: {shown} (limit {limit})" for what, shown, limit, ok in targets(res)]


def as_dict(res: Results) -> Dict[str, object]:
    return {"targets": targets(res)}
