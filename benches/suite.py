"""Runs every method through the four workflows, plus the references.

Workflows, on ``x = np.arange(N, dtype="f8")`` and an already-started spawn
pool of two workers:

* ``double``: x goes into shared memory (setup), each worker gets its half
  (hand-off) and doubles it in place (compute), the parent verifies.
* ``sum``: the same, read-only: each worker sums its half.
* ``fanin``: each worker creates an array holding twice its half and returns
  it; the parent verifies what it received.
* ``sweep``: x goes into shared memory once, then 16 tasks each read all of
  it with their own parameter (a parameter sweep, a bootstrap); the parent
  checks the 16 results.

References measured in the same run: a memcpy of x and one ``x *= 2`` pass in
the parent, the same pass on private memory in both workers at once, and an
empty task through each pool (the pool's own latency).

Every method runs with its own environment (``Method.env``) in the parent
and in its pool's workers: one started pool per environment.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import os
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import numpy as np
import workloads
from measure import Hold, median_of, now_ns, pss_bytes
from methods import METHODS, Method, halves, page_backing, warm_up

import ndshare

VARIANTS = ("double", "sum", "fanin", "sweep")
#: joblib as it comes (loky, arrays above 1 MB memmapped read-only). One set
#: of arguments for every joblib method: other arguments make joblib start
#: new workers.
JOBLIB_ARGS: Dict[str, Any] = {"n_jobs": 2}
EnvKey = Tuple[Tuple[str, str], ...]


def env_key(m: Method) -> EnvKey:
    return tuple(sorted(m.env.items()))


def empty_task_case(m: Method) -> str:
    """The reference that holds the empty-task latency of ``m``'s pool."""
    key = env_key(m)
    return "pool-dispatch" + ("".join(f" {k}={v}" for k, v in key))


@contextlib.contextmanager
def environment(env: Dict[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``env`` for the block (the parent's side
    of a method; a spawn pool started inside inherits it)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Config:
    sizes: List[int]
    repeats: int
    repeats_large: int  # for sizes of 512 MiB and more
    methods: List[str]
    variants: List[str] = field(default_factory=lambda: list(VARIANTS))
    memory: bool = True
    log: Callable[[str], None] = print

    def repeats_for(self, nbytes: int) -> int:
        return self.repeats_large if nbytes >= 512 << 20 else self.repeats


Key = Tuple[str, str, int]  # variant, method, size in bytes


@dataclass
class Results:
    config: Config
    #: (variant, method, size) -> phase -> readings in ns
    phases: Dict[Key, Dict[str, List[float]]] = field(default_factory=dict)
    #: (variant, method, size) -> bytes pickled per task
    task_bytes: Dict[Key, int] = field(default_factory=dict)
    #: (method, size) -> memory added, in units of the array size
    memory: Dict[Tuple[str, int], float] = field(default_factory=dict)
    #: (variant, method, size) -> error text
    errors: Dict[Key, str] = field(default_factory=dict)
    #: (variant, method, size) -> the memory ndshare gave the array ("memfd, 4 KiB pages")
    backing: Dict[Key, str] = field(default_factory=dict)
    #: (case, size) -> readings in ns: single-process references and setups
    refs: Dict[Tuple[str, int], List[float]] = field(default_factory=dict)
    unavailable: Dict[str, str] = field(default_factory=dict)
    methods: List[Method] = field(default_factory=list)

    def add(self, key: Key, phase: str, value: float) -> None:
        self.phases.setdefault(key, {}).setdefault(phase, []).append(value)

    def add_ref(self, case: str, size: int, value: float) -> None:
        self.refs.setdefault((case, size), []).append(value)


class VerificationError(AssertionError):
    pass


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise VerificationError(what)


def _pickled_size(obj: Any) -> int:
    """Bytes that multiprocessing's pickler makes of ``obj``. What it offers
    for sending is withdrawn again at once: a descriptor registered with the
    stdlib's sharer (``DupFd``) is closed, and an ndshare offer is taken back
    by unpickling the bytes here, so that no offer outlives the measurement
    (an untaken one would hold this process at exit)."""
    from multiprocessing import resource_sharer

    sharer = resource_sharer._resource_sharer  # type: ignore[attr-defined]
    before = set(sharer._cache)
    data = ForkingPickler.dumps(obj)
    for key in set(sharer._cache) - before:
        _send, close = sharer._cache.pop(key)
        close()
    if _holds_shared_array(obj):
        ForkingPickler.loads(data)
    return len(data)


def _holds_shared_array(obj: Any) -> bool:
    if isinstance(obj, ndshare.SharedArray):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_holds_shared_array(o) for o in obj)
    if isinstance(obj, dict):
        return any(_holds_shared_array(o) for o in obj.values())
    return False


def _joblib_pickled_size(obj: Any, folder: str) -> int:
    """Bytes that joblib's loky backend makes of ``obj``: its memmapping
    reducers send a memmap as a reference to its file."""
    import copyreg
    import io
    import pickle

    from joblib._memmapping_reducer import get_memmapping_reducers

    forward, _ = get_memmapping_reducers(
        temp_folder_resolver=lambda: folder,
        max_nbytes=1e6,
        mmap_mode="r",
        unlink_on_gc_collect=False,
    )
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    p.dispatch_table = copyreg.dispatch_table.copy()
    p.dispatch_table.update(forward)
    p.dump(obj)
    return len(buf.getvalue())


class Suite:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.res = Results(cfg)
        self.ctx = mp.get_context("spawn")
        self.tmp = Path(tempfile.mkdtemp(prefix="ndbench-"))
        self.hold = Hold(self.tmp / "hold")
        #: One started pool per environment, and its workers' pids.
        self.pools: Dict[EnvKey, Any] = {}
        self.worker_pids: Dict[EnvKey, List[int]] = {}
        self.ray_task: Any = None
        for m in METHODS.values():
            if m.key not in cfg.methods:
                continue
            if m.unavailable:
                self.res.unavailable[m.key] = m.unavailable
            self.res.methods.append(m)

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> Suite:
        for m in self.res.methods:
            key = env_key(m)
            if m.unavailable or key in self.pools:
                continue
            with environment(m.env):
                self.pools[key] = self.ctx.Pool(2)
            self.worker_pids[key] = sorted(set(self.pools[key].map(warm_up, range(8), chunksize=1)))
        if self._uses("ray"):
            self._start_ray()
        # One round trip of each way of sharing, so that no first run pays
        # for starting a listener thread, a connection or a worker.
        small = np.arange(1024, dtype="f8")
        for m in self.res.methods:
            if m.unavailable or m.dispatch == "fresh-pool":
                continue
            if "fanin" in m.variants:
                self.run_fanin(m, small, small * 2)
            if "double" in m.variants:
                self.run_share(m, "double", small.copy(), small * 2, False)
            if "sweep" in m.variants:
                self.run_sweep(m, small, [workloads.sweep_value(small, k) for k in range(workloads.SWEEP_TASKS)])
        return self

    def _start_ray(self) -> None:
        import ray

        # The workers import the suite's modules as the pool's workers do.
        path = os.pathsep.join([str(Path(workloads.__file__).parent), os.environ.get("PYTHONPATH", "")])
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}}
        )
        self.ray_task = ray.remote(num_cpus=1)(workloads.sweep_task)
        ray.get([ray.remote(num_cpus=1)(warm_up).remote(i) for i in range(4)])

    def __exit__(self, *exc: Any) -> None:
        for pool in self.pools.values():
            pool.close()
            pool.join()
        if self._uses("ray"):
            import ray

            ray.shutdown()
        if self._uses("joblib"):
            # joblib keeps its workers for the next call: stop them, so that
            # nothing of the suite lives on in the caller (the test suite).
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True)
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)

    def _uses(self, *dispatch: str) -> bool:
        return any(m.dispatch in dispatch and not m.unavailable for m in self.res.methods)

    def pool_for(self, m: Method) -> Any:
        return self.pools[env_key(m)]

    def on_each_worker(self, m: Method, func: Any, args: Tuple[Any, ...] = ()) -> None:
        """Runs ``func(*args, hold_dir)`` once in each worker of ``m``'s pool:
        each waits at the hold point until both have arrived."""
        self.hold.reset()
        asyncs = [self.pool_for(m).apply_async(func, args + (str(self.hold.dir),)) for _ in range(2)]
        self.hold.wait_for(2)
        self.hold.release()
        for a in asyncs:
            a.get(timeout=600)

    def runnable(self, variant: str) -> List[Method]:
        return [m for m in self.res.methods if not m.unavailable and variant in m.variants]

    # -- dispatch ----------------------------------------------------------
    def _dispatch(
        self, m: Method, func: Any, arglists: List[Tuple[Any, ...]], keep: Any, n: int
    ) -> List[Dict[str, Any]]:
        if m.dispatch == "pool":
            asyncs = [self.pool_for(m).apply_async(func, args) for args in arglists]
            return [a.get(timeout=600) for a in asyncs]
        if m.dispatch == "fresh-pool":
            from methods import init_raw

            pool = self.ctx.Pool(2, initializer=init_raw, initargs=(keep, n))
            try:
                asyncs = [pool.apply_async(func, args) for args in arglists]
                return [a.get(timeout=600) for a in asyncs]
            finally:
                pool.terminate()
                pool.join()
        if m.dispatch == "joblib":
            import joblib

            return list(joblib.Parallel(**JOBLIB_ARGS)(joblib.delayed(func)(*args) for args in arglists))
        if m.dispatch == "ray":
            import ray

            assert func is workloads.sweep_task, "Ray runs the sweep only"
            return list(ray.get([self.ray_task.remote(*args) for args in arglists]))
        raise ValueError(m.dispatch)

    # -- one run -----------------------------------------------------------
    def run_share(
        self, m: Method, variant: str, x: np.ndarray, expected: Any, measure_memory: bool
    ) -> Dict[str, float]:
        with environment(m.env):
            return self._run_share(m, variant, x, expected, measure_memory)

    def _run_share(
        self, m: Method, variant: str, x: np.ndarray, expected: Any, measure_memory: bool
    ) -> Dict[str, float]:
        n = x.shape[0]
        parts = halves(n)
        prepared = m.prepare(x)
        base = self._pss_all(self.worker_pids.get(env_key(m), [])) if measure_memory else {}
        t0 = now_ns()
        view, keep = m.setup(x, prepared)
        t1 = now_ns()
        payloads = m.payloads(view, keep, parts)
        hold_dir = str(self.hold.dir) if measure_memory else None
        arglists = [(m.key, variant, p, hold_dir) for p in payloads]
        out: Dict[str, float] = {}
        box: Dict[str, Any] = {}

        def go() -> None:
            try:
                box["results"] = self._dispatch(m, workloads.task, arglists, keep, n)  # noqa: F821 - deleted only after the call returns
            except BaseException as e:  # reported by the caller
                box["error"] = e  # noqa: F821 - deleted only after the call returns
            box["t"] = now_ns()  # noqa: F821 - deleted only after the call returns

        t_submit = now_ns()
        if measure_memory:
            self.hold.reset()
            th = threading.Thread(target=go)
            th.start()
            pids = self.hold.wait_for(2)
            held = self._pss_all(pids)
            self.hold.release()
            th.join()
            if "error" not in box:
                after = self._pss_all(pids)
                out["memory"] = self._added(base, held, after, pids, m) / max(x.nbytes, 1)
        else:
            go()
        if "error" in box:
            raise box["error"]
        results: List[Dict[str, Any]] = box["results"]
        t_collected = box["t"]
        if variant == "double":
            if m.returns_data:
                for (lo, hi), r in zip(parts, results):
                    view[lo:hi] = r["data"]
            _check(np.array_equal(view, expected), f"{m.key}: the parent does not see 2*x")
        else:
            got = [r["sum"] for r in results]
            _check(got == expected, f"{m.key}: sums {got} != {expected}")
        t_end = now_ns()
        out.update(
            setup=t1 - t0,
            handoff=max(r["t_usable"] for r in results) - t_submit,
            compute=max(r["t_done"] - r["t_usable"] for r in results),
            collect=t_collected - max(r["t_done"] for r in results),
            e2e=t_end - t0,
        )
        self._note_backing((variant, m.key, n * 8), view)
        del results, payloads, arglists, box
        del view
        m.cleanup(keep)
        return out

    def _note_backing(self, key: Key, a: Any) -> None:
        got = page_backing(a)
        if got is not None:
            self.res.backing[key] = got

    def run_fanin(self, m: Method, x: np.ndarray, expected: np.ndarray) -> Dict[str, float]:
        with environment(m.env):
            return self._run_fanin(m, x, expected)

    def _run_fanin(self, m: Method, x: np.ndarray, expected: np.ndarray) -> Dict[str, float]:
        parts = halves(x.shape[0])
        t0 = now_ns()
        results = self._dispatch(m, workloads.fanin_task, [(m.key, lo, hi) for lo, hi in parts], None, x.shape[0])
        t_collected = now_ns()
        received = [m.receive(r["result"]) for r in results]
        t_received = now_ns()
        for (lo, hi), (arr, _) in zip(parts, received):
            _check(np.array_equal(arr, expected[lo:hi]), f"{m.key}: a returned array is wrong")
        t_end = now_ns()
        out = dict(
            compute=max(r["t_done"] - r["t_usable"] for r in results),
            collect=t_received - max(r["t_done"] for r in results),
            e2e=t_end - t0,
        )
        _ = t_collected
        self._note_backing(("fanin", m.key, x.nbytes), received[0][0])
        keeps = [k for _, k in received]
        del received, results
        for k in keeps:
            if k is not None:
                m.release_result(k)
        return out

    def run_sweep(self, m: Method, x: np.ndarray, expected: List[float]) -> Dict[str, float]:
        with environment(m.env):
            return self._run_sweep(m, x, expected)

    def _run_sweep(self, m: Method, x: np.ndarray, expected: List[float]) -> Dict[str, float]:
        n = x.shape[0]
        whole = [(0, n)]
        prepared = m.prepare(x)
        if m.preload:
            _, keep = m.setup(x, prepared)
            self.on_each_worker(m, workloads.preload, (m.key, m.payloads(x, keep, whole)[0]))
        t0 = now_ns()
        view, keep = m.setup(x, prepared)
        t1 = now_ns()
        payload = m.payloads(view, keep, whole)[0]
        arglists = [(m.key, payload, k) for k in range(workloads.SWEEP_TASKS)]
        results = self._dispatch(m, workloads.sweep_task, arglists, keep, n)
        got = [r["value"] for r in results]
        _check(
            bool(np.allclose(got, expected, rtol=1e-9, atol=0.0)),
            f"{m.key}: sweep results {got[:2]}... != {expected[:2]}...",
        )
        t_end = now_ns()
        # A worker's first task pays for reaching x; its later ones show
        # whether what it reached is still there.
        first: List[float] = []
        warm: List[float] = []
        seen = set()
        for r in sorted(results, key=lambda r: r["t_usable"]):
            (warm if r["pid"] in seen else first).append(r["t_done"] - r["t_usable"])
            seen.add(r["pid"])
        self._note_backing(("sweep", m.key, x.nbytes), view)
        del results, payload, arglists, view
        if m.keeps_in_workers:
            self.on_each_worker(m, workloads.drop_kept)
        m.cleanup(keep)
        out = {"setup": t1 - t0, "e2e": t_end - t0, "compute_first": median_of(first)}
        if warm:
            out["compute_warm"] = median_of(warm)
        return out

    def _pss_all(self, pids: List[int]) -> Dict[int, int]:
        out = {os.getpid(): pss_bytes(os.getpid())}
        for p in pids:
            try:
                out[p] = pss_bytes(p)
            except OSError:
                pass
        return out

    def _added(
        self, base: Dict[int, int], held: Dict[int, int], after: Dict[int, int], pids: List[int], m: Method
    ) -> float:
        """PSS while held minus PSS before: the parent's before setup, a
        worker's once it dropped the array (a fresh-pool worker keeps its
        RawArray until it exits: the suite's own idle workers stand in)."""
        me = os.getpid()
        total = held[me] - base[me]
        idle = sorted(v for k, v in base.items() if k != me)
        stand_in = idle[len(idle) // 2] if idle else 0
        for p in pids:
            if p not in held:
                continue
            if m.dispatch == "fresh-pool":
                ref = stand_in
            else:
                ref = after.get(p, base.get(p, stand_in))
            total += held[p] - ref
        return float(total)

    # -- references ----------------------------------------------------------
    def run_refs(self, size: int, x: np.ndarray, y: np.ndarray) -> None:
        r = self.res
        t = now_ns()
        np.copyto(y, x)
        r.add_ref("memcpy", size, now_ns() - t)
        t = now_ns()
        y *= 2
        r.add_ref("double-private", size, now_ns() - t)
        t = now_ns()
        float(y.sum())
        r.add_ref("sum-private", size, now_ns() - t)
        n = x.shape[0]
        pools = {empty_task_case(m): m for m in self.res.methods if not m.unavailable and m.dispatch == "pool"}
        for variant in self.cfg.variants:
            if variant == "sweep":  # its reference is a method: "private"
                continue
            for case, m in pools.items():
                t_submit = now_ns()
                asyncs = [
                    self.pool_for(m).apply_async(workloads.reference_task, (variant, hi - lo)) for lo, hi in halves(n)
                ]
                got = [a.get(timeout=600) for a in asyncs]
                r.add_ref(case, size, max(g["t_start"] for g in got) - t_submit)
                if not m.env:
                    r.add_ref(f"worker-{variant}-private", size, max(g["t_done"] - g["t_usable"] for g in got))

    def run_setups(self, size: int, x: np.ndarray) -> None:
        """Getting x into memory, every way: the `ndshare.array` targets."""
        import ndshare

        r = self.res

        def timed(case: str, make: Callable[[], Any], drop: Callable[[Any], None] = lambda o: None) -> None:
            t = now_ns()
            obj = make()
            r.add_ref(case, size, now_ns() - t)
            drop(obj)

        timed("setup:numpy-new", lambda: np.copyto(np.empty_like(x), x))
        for m in self.res.methods:
            if m.unavailable or m.key not in ("shared_memory", "SharedArray", "RawArray", "ndshare", "ndshare-4k"):
                continue
            with environment(m.env):
                timed(f"setup:{m.key}", functools.partial(m.setup, x, None), lambda o, m=m: m.cleanup(o[1]))

        def via_mapping() -> Any:
            a = ndshare.empty(x.shape, x.dtype)
            np.copyto(a, x)
            return a

        timed("setup:ndshare-mapping", via_mapping)
        touched = ndshare.empty(x.shape, x.dtype)
        touched[...] = 1.0
        timed("setup:touched-shared", lambda: np.copyto(touched, x))  # noqa: F821 - deleted only after the call returns
        del touched

    # -- the whole run ---------------------------------------------------------
    def run(self) -> Results:
        cfg, res = self.cfg, self.res
        for size in cfg.sizes:
            n = size // 8
            x = np.arange(n, dtype="f8")
            doubled = x * 2
            y = np.empty_like(x)
            y[...] = 0.0
            sums = [float(x[lo:hi].sum()) for lo, hi in halves(n)]
            swept = (
                [workloads.sweep_value(x, k) for k in range(workloads.SWEEP_TASKS)] if "sweep" in cfg.variants else []
            )
            reps = cfg.repeats_for(size)
            cfg.log(f"size {size >> 20} MiB: {reps} repeats")
            for rep in range(reps):
                self.run_refs(size, x, y)
                self.run_setups(size, x)
                for variant in cfg.variants:
                    for m in self.runnable(variant):
                        key = (variant, m.key, size)
                        if key in res.errors:
                            continue
                        try:
                            if variant == "fanin":
                                got = self.run_fanin(m, x, doubled)
                            elif variant == "sweep":
                                got = self.run_sweep(m, x, swept)
                            else:
                                got = self.run_share(m, variant, x, doubled if variant == "double" else sums, False)
                        except Exception:
                            res.errors[key] = traceback.format_exc(limit=3).strip().splitlines()[-1]
                            cfg.log(f"  {variant:6s} {m.key}: FAILED {res.errors[key]}")
                            continue
                        for phase, v in got.items():
                            res.add(key, phase, v)
                cfg.log(f"  repeat {rep + 1}/{reps} done")
            for variant in ("double", "sum"):
                if variant not in cfg.variants:
                    continue
                for m in self.runnable(variant):
                    key = (variant, m.key, size)
                    if key in res.errors:
                        continue
                    view, keep = m.setup(x, m.prepare(x))
                    try:
                        if m.dispatch == "joblib":
                            size_of = lambda o: _joblib_pickled_size(o, str(self.tmp))  # noqa: E731
                        else:
                            size_of = _pickled_size
                        res.task_bytes[key] = max(
                            size_of((workloads.task, (m.key, variant, p, None)))
                            for p in m.payloads(view, keep, halves(n))
                        )
                    finally:
                        del view
                        m.cleanup(keep)
            if cfg.memory and "double" in cfg.variants:
                for m in self.runnable("double"):
                    if ("double", m.key, size) in res.errors:
                        continue
                    try:
                        got = self.run_share(m, "double", x, doubled, True)
                        res.memory[(m.key, size)] = got["memory"]
                    except Exception:
                        cfg.log(f"  memory {m.key}: FAILED {traceback.format_exc(limit=2).strip().splitlines()[-1]}")
            del x, doubled, y
        return res


def run_suite(cfg: Config) -> Results:
    with Suite(cfg) as s:
        return s.run()
