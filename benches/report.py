"""The Markdown tables, the target check and the chart."""

from __future__ import annotations

import os
import platform
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from measure import Stats, fmt_bytes, fmt_ms, fmt_stats_ms, median_of, size_label
from methods import HUGE_PAGES_ABSENT, Method
from suite import Results, empty_task_case

#: The product's rows: huge pages as they come, and turned off.
HUGE, SMALL = "ndshare", "ndshare-4k"

BEGIN = "<!-- results:begin (written by `make bench`; edit above or below) -->"
END = "<!-- results:end -->"

PHASES = (("setup", "setup"), ("handoff", "hand-off"), ("compute", "compute (slowest worker)"), ("e2e", "end-to-end"))
VARIANT_TITLES = {
    "double": "Each worker doubles its half in place",
    "sum": "Read-only: each worker sums its half",
    "fanin": "Fan-in: each worker creates an array of its half, doubled, and returns it",
    "sweep": "Sweep: 16 tasks, each reads all of x with its own parameter",
}
VARIANT_SHORT = {"double": "double", "sum": "read-only sum", "fanin": "fan-in", "sweep": "sweep"}
SETUP_CASES = (
    ("memcpy", "memcpy into already-touched private memory (np.copyto)"),
    ("setup:numpy-new", "np.empty_like + np.copyto (fresh private memory)"),
    ("setup:shared_memory", "SharedMemory + np.copyto"),
    ("setup:SharedArray", "SharedArray.create + np.copyto"),
    ("setup:RawArray", "RawArray + np.frombuffer + np.copyto"),
    ("setup:ndshare", "**ndshare.array(x)**, huge pages"),
    ("setup:ndshare-4k", "**ndshare.array(x)**, 4 KiB pages"),
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


def available(res: Results) -> Dict[str, Method]:
    return {m.key: m for m in res.methods if not m.unavailable}


def huge_pages_used(res: Results) -> Optional[str]:
    """None if the huge-pages rows got huge pages; else why not."""
    if HUGE not in available(res):
        return HUGE_PAGES_ABSENT
    got = sorted({b for (_, k, _), b in res.backing.items() if k == HUGE})
    if got and all(b.endswith(" KiB pages") for b in got):
        return f"huge pages asked for, this machine gave {' / '.join(got)}"
    return None


def handoff_overhead(res: Results, variant: str, method: str, size: int) -> float:
    """The hand-off minus the pool's empty-task latency, both of this run."""
    m = available(res).get(method)
    if m is None or m.dispatch != "pool":
        return float("nan")
    return med(res, variant, method, size, "handoff") - ref(res, empty_task_case(m), size)


def best_of(res: Results, variant: str, size: int, keys: Tuple[str, ...], phase: str = "e2e") -> Tuple[float, str]:
    """The fastest of ``keys`` measured in this run (median), and which."""
    got = [(med(res, variant, k, size, phase), k) for k in keys if k in available(res)]
    got = [g for g in got if g[0] == g[0]]
    return min(got) if got else (float("nan"), "")


def targets(res: Results) -> List[Target]:
    out: List[Target] = []
    sizes = res.config.sizes
    have = available(res)
    no_huge = huge_pages_used(res)
    main = HUGE if HUGE in have else SMALL
    labels = {HUGE: "huge pages", SMALL: "4 KiB pages"}

    def row(what: str, value: float, limit: float, shown: str) -> None:
        out.append((what, shown, f"≤ {limit:g}x", None if value != value else value <= limit))

    def per_pages(what: str, value: Callable[[str], float], limits: Dict[str, float]) -> None:
        """One row per page size with its own limit; huge pages' says why it is absent."""
        for key, limit in limits.items():
            if key == HUGE and no_huge:
                out.append((f"{what}, {labels[key]}", no_huge, f"≤ {limit:g}x", None))
            elif key in have:
                v = value(key)
                row(f"{what}, {labels[key]}", v, limit, _fmt_ratio(v))

    def both(value: Callable[[str], float], fmt: Callable[[float], str] = lambda v: _fmt_ratio(v)) -> Tuple[float, str]:
        """The main row's value, shown with the other page size's beside it."""
        v = value(main)
        other = SMALL if main == HUGE else None
        shown = fmt(v) + (f" ({labels[other]}: {fmt(value(other))})" if other else "")
        return v, shown

    big = [s for s in sizes if s >= 128 << 20]
    for size in big:
        b, k = best_of(res, "double", size, ("shared_memory", "SharedArray"))
        per_pages(
            f"double, end-to-end, {size_label(size)} ÷ best of SharedMemory, SharedArray ({k})",
            lambda key: _ratio(med(res, "double", key, size, "e2e"), b),
            {HUGE: 0.3, SMALL: 0.8},
        )
    for size in sizes:
        per_pages(
            f"worker compute on first touch ÷ private memory, double, {size_label(size)}",
            lambda key: _ratio(med(res, "double", key, size, "compute"), ref(res, "worker-double-private", size)),
            {HUGE: 1.15},
        )
    for size in big:
        for alt, limit, name in (
            ("joblib-default", 0.5, "joblib's default"),
            ("shared_memory-once", 0.9, "SharedMemory attached once per worker"),
        ):
            if alt in have:
                v, shown = both(
                    lambda key: _ratio(med(res, "sweep", key, size, "e2e"), med(res, "sweep", alt, size, "e2e"))
                )
                row(f"sweep, end-to-end, {size_label(size)} ÷ {name}", v, limit, shown)
        v, shown = both(
            lambda key: _ratio(
                med(res, "sweep", key, size, "compute_warm"), med(res, "sweep", "private", size, "compute_warm")
            )
        )
        row(f"sweep, warm per-task compute ÷ private memory, {size_label(size)}", v, 1.15, shown)
    for size in sizes:
        per_pages(
            f"ndshare.array(x) ÷ SharedMemory + copy, {size_label(size)}",
            lambda key: _ratio(ref(res, f"setup:{key}", size), ref(res, "setup:shared_memory", size)),
            {HUGE: 0.3, SMALL: 0.6},
        )
    for size in sizes:
        h, shown = both(lambda key: handoff_overhead(res, "double", key, size), lambda v: f"{fmt_ms(v)} ms")
        m = have[main]
        shown += f"; hand-off {fmt_ms(med(res, 'double', main, size, 'handoff'))} ms, empty task {fmt_ms(ref(res, empty_task_case(m), size))} ms"
        out.append(
            (
                f"hand-off above the pool's empty task, {size_label(size)}",
                shown,
                "≤ 0.3 ms",
                None if h != h else h <= 0.3e6,
            )
        )
    for size in sizes:
        nbytes = res.task_bytes.get(("double", main, size))
        out.append(
            (
                f"pickled per task, {size_label(size)}",
                "–" if nbytes is None else f"{nbytes} B",
                "< 1 KiB",
                None if nbytes is None else nbytes < 1024,
            )
        )
    for size in sizes:
        v = res.memory.get((main, size), float("nan"))
        row(f"memory added ÷ array size, {size_label(size)}", v, 1.02, _fmt_ratio(v))
    return out


def _mark(ok: Optional[bool]) -> str:
    return "–" if ok is None else ("pass" if ok else "**miss**")


def markdown(res: Results, command: str, chart: Optional[str]) -> str:
    cfg = res.config
    L: List[str] = [BEGIN, ""]
    L.append(
        f"Command: `{command}`; sizes {', '.join(size_label(s) for s in cfg.sizes)}; "
        f"{cfg.repeats} repeats ({cfg.repeats_large} from 512 MiB); each cell is the median (min–max) in ms."
    )
    L.append("")
    L.append(
        f"Machine: {os.cpu_count()} cores, {_mem_total()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        f"THP for shmem: `{_read('/sys/kernel/mm/transparent_hugepage/shmem_enabled')}`; "
        f"load average at the end {', '.join(f'{v:.1f}' for v in os.getloadavg())}."
    )
    L.append("")
    no_huge = huge_pages_used(res)
    L.append(f"- **huge pages**: {no_huge}." if no_huge else f"- **huge pages**: in use ({_backings(res, HUGE)}).")
    for key, why in res.unavailable.items():
        if key != HUGE:
            L.append(f"- **{key} not measured**: {why}.")
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
            L += _sweep_table(res, size) if variant == "sweep" else _variant_table(res, variant, size)
    L += [
        "### Getting x into memory",
        "",
        "One process; each way timed alone (creation and copy; freeing is not timed).",
        "",
    ]
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


def _backings(res: Results, key: str) -> str:
    return " / ".join(sorted({b for (_, k, _), b in res.backing.items() if k == key})) or "not reported"


def _label(m: Method) -> str:
    return f"**{m.label}**" if m.key in (HUGE, SMALL) else m.label


def _runnable(res: Results, variant: str) -> List[Method]:
    return [m for m in res.methods if variant in m.variants and not m.unavailable]


def _sweep_table(res: Results, size: int) -> List[str]:
    head = [
        "method",
        "setup",
        "end-to-end",
        "per-task compute, first task",
        "per-task compute, later tasks (warm)",
        "warm ÷ private",
        "end-to-end ÷ joblib's default",
        "end-to-end ÷ SharedMemory once per worker",
    ]
    L = [f"**{size_label(size)}**", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    private = med(res, "sweep", "private", size, "compute_warm")
    joblib_e2e = med(res, "sweep", "joblib-default", size, "e2e")
    once_e2e = med(res, "sweep", "shared_memory-once", size, "e2e")
    for m in _runnable(res, "sweep"):
        key = ("sweep", m.key, size)
        if key in res.errors:
            L.append(f"| {m.label} | failed: `{res.errors[key]}` |")
            continue
        ph = res.phases.get(key, {})
        e2e = median_of(ph.get("e2e", []))
        cells = [_label(m)] + [
            fmt_stats_ms(Stats.of(ph.get(p, []))) for p in ("setup", "e2e", "compute_first", "compute_warm")
        ]
        cells += [
            _fmt_ratio(_ratio(median_of(ph.get("compute_warm", [])), private)),
            _fmt_ratio(_ratio(e2e, joblib_e2e)),
            _fmt_ratio(_ratio(e2e, once_e2e)),
        ]
        L.append("| " + " | ".join(cells) + " |")
    L += [
        "",
        f"{len(_runnable(res, 'sweep'))} ways, each {16} tasks on 2 workers; the first task of each worker counts as "
        '"first", the other 14 as "warm"; the private reference starts with x already in both workers.',
        "",
    ]
    return L


def _variant_table(res: Results, variant: str, size: int) -> List[str]:
    cols = [p for p in PHASES if not (variant == "fanin" and p[0] in ("setup", "handoff"))]
    extra = ["return to parent"] if variant == "fanin" else ["hand-off − empty task"]
    head = ["method"] + [c[1] for c in cols] + extra + ["end-to-end ÷ memcpy", "compute ÷ private"]
    if variant != "fanin":
        head.append("pickled per task")
    if variant == "double":
        head.append("memory added")
    L = [f"**{size_label(size)}**", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    memcpy = ref(res, "memcpy", size)
    private = ref(res, f"worker-{variant}-private", size)
    for m in _runnable(res, variant):
        key = (variant, m.key, size)
        if key in res.errors:
            L.append(f"| {m.label} | failed: `{res.errors[key]}` |")
            continue
        ph = res.phases.get(key, {})
        cells = [_label(m)]
        for p, _ in cols:
            cells.append(fmt_stats_ms(Stats.of(ph.get(p, []))))
        if variant == "fanin":
            cells.append(fmt_stats_ms(Stats.of(ph.get("collect", []))))
        else:
            cells.append(fmt_ms(handoff_overhead(res, variant, m.key, size)))
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
        refs.append(
            f"one `x *= 2` pass on private memory {fmt_stats_ms(Stats.of(res.refs.get(('double-private', size), [])))} ms"
        )
    if variant == "sum":
        refs.append(
            f"one `x.sum()` on private memory {fmt_stats_ms(Stats.of(res.refs.get(('sum-private', size), [])))} ms"
        )
    if variant != "fanin":
        for case in sorted({empty_task_case(m) for m in _runnable(res, variant) if m.dispatch == "pool"}):
            env = case.removeprefix("pool-dispatch").strip()
            refs.append(
                f"the pool's latency{f' ({env})' if env else ''} (submit to an empty task's start in both workers) "
                f"{fmt_stats_ms(Stats.of(res.refs.get((case, size), [])))} ms"
            )
    refs.append(
        f"the same pass on private memory in both workers {fmt_stats_ms(Stats.of(res.refs.get((f'worker-{variant}-private', size), [])))} ms"
    )
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


#: What only ndshare does, for the chart's second panel (README's comparison).
ONLY_NDSHARE = (
    ("", "ndshare", "SharedMemory", "SharedArray", "joblib memmap"),
    ("a worker returns an array, no copy", "yes", "by name, by hand", "by name, by hand", "no: pickled back"),
    (
        "memory back when every user is SIGKILLed",
        "yes",
        "only if its tracker survives",
        "no: stays in /dev/shm",
        "only if its tracker survives",
    ),
    ("bounded by /dev/shm (64 MiB in Docker)", "no", "yes", "yes", "no: falls back to disk"),
)
#: Short names of the alternatives on the chart.
CHART_NAMES = {
    "shared_memory": "SharedMemory",
    "shared_memory-once": "SharedMemory, once per worker",
    "SharedArray": "SharedArray",
    "RawArray": "RawArray",
    "pickle": "Pool.map pickling",
    "joblib": "joblib memmap",
    "joblib-default": "joblib default",
    "ray": "Ray",
}


def chart_rows(res: Results) -> List[Tuple[str, str, float, float, float]]:
    """(row label, ndshare key, ratio, low, high): ndshare's end-to-end time
    per workflow and size over the best alternative's median of the same run;
    low and high are ndshare's fastest and slowest reading over that median."""
    rows = []
    for variant in res.config.variants:
        alts = tuple(
            m.key for m in _runnable(res, variant) if m.key not in (HUGE, SMALL) and not (m.experiment or m.reference)
        )
        for size in res.config.sizes:
            best, k = best_of(res, variant, size, alts)
            for key in (HUGE, SMALL):
                e2e = res.phases.get((variant, key, size), {}).get("e2e", [])
                if not e2e or best != best:
                    continue
                label = f"{VARIANT_SHORT[variant]}, {size_label(size)}\nvs {CHART_NAMES.get(k, k)}"
                rows.append((label, key, _ratio(median_of(e2e), best), min(e2e) / best, max(e2e) / best))
    return rows


def chart(res: Results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = chart_rows(res)
    labels = list(dict.fromkeys(r[0] for r in rows))
    chart_h, table_h = 0.6 * len(labels) + 1.6, 2.0
    fig = plt.figure(figsize=(10, chart_h + table_h))
    total = chart_h + table_h
    ax = fig.add_axes((0.27, (table_h + 0.9) / total, 0.70, (chart_h - 1.5) / total))
    colors = {HUGE: "#1f77b4", SMALL: "#9ecae1"}
    no_huge = huge_pages_used(res)
    names = {HUGE: "ndshare, huge pages", SMALL: "ndshare, 4 KiB pages" + (f" ({no_huge})" if no_huge else "")}
    keys = [k for k in (HUGE, SMALL) if any(r[1] == k for r in rows)]
    height = 0.8 / max(len(keys), 1)
    top = 1.0
    for j, key in enumerate(keys):
        mine = [r for r in rows if r[1] == key]
        ys = [labels.index(r[0]) + (j - (len(keys) - 1) / 2) * height for r in mine]
        vals = [r[2] for r in mine]
        err = [[r[2] - r[3] for r in mine], [r[4] - r[2] for r in mine]]
        ax.barh(ys, vals, height, xerr=err, color=colors[key], label=names[key], capsize=3, ecolor="#444")
        for y, v in zip(ys, vals):
            ax.text(0.02, y, f"{v:.2f}", va="center", ha="left", fontsize=8, color="white" if key == HUGE else "black")
        top = max(top, max(r[4] for r in mine))
    ax.axvline(1.0, color="#d62728", lw=1.5)
    ax.text(1.0, len(labels) - 0.45, " 1 = the fastest other way", color="#d62728", fontsize=8, va="bottom")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.4, -1.0)
    ax.set_xlim(0, max(1.6, top * 1.05))
    ax.set_xlabel(
        "end-to-end time ÷ the fastest other way in the same run (below 1: ndshare is faster; whiskers: ndshare's fastest and slowest run)",
        fontsize=8,
    )
    ax.set_title("ndshare against the fastest other way, per workflow and size", fontsize=11)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    ax.grid(axis="x", alpha=0.3)

    tab = fig.add_axes((0.02, 0.05 / total, 0.96, (table_h - 0.1) / total))
    tab.axis("off")
    tab.set_title("What only ndshare does", fontsize=11)
    table = tab.table(
        cellText=[list(r) for r in ONLY_NDSHARE[1:]],
        colLabels=list(ONLY_NDSHARE[0]),
        loc="upper center",
        cellLoc="center",
        colWidths=[0.32, 0.10, 0.2, 0.18, 0.2],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.6)
    for (r, c), cell in table.get_celld().items():
        if r == 0 or c == 0:
            cell.set_text_props(weight="bold")
        if c == 1 and r > 0:
            cell.set_facecolor("#dbe9f6")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_lines(res: Results) -> List[str]:
    return [f"{_mark(ok):8s} {what}: {shown} (limit {limit})" for what, shown, limit, ok in targets(res)]


def as_dict(res: Results) -> Dict[str, object]:
    return {"targets": targets(res)}
