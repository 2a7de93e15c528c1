"""Process a shared array block by block on every core, in one call.

>>> import numpy as np, ndshare, ndshare.parallel
>>> a = ndshare.array(np.arange(12.0).reshape(6, 2))
>>> ndshare.parallel.map_blocks(np.square, a, out=ndshare.zeros_like(a), blocks=3)[:, 0]
SharedArray([  0.,   4.,  16.,  36.,  64., 100.])
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.pool
import operator
import os
import pickle
import queue
import sys
from typing import Any, Callable, Dict, Optional, Tuple, Union, cast

import numpy as np

from ._array import SharedArray
from ._reduce import by_reference

#: What ``pool=`` accepts: a ``multiprocessing`` pool or a
#: ``concurrent.futures`` executor (``ProcessPoolExecutor``, or a
#: ``ThreadPoolExecutor`` when ``func`` releases the GIL).
PoolLike = Union[multiprocessing.pool.Pool, concurrent.futures.Executor]

#: Blocks per worker when ``blocks`` is not given: enough to even out
#: blocks of unequal cost, few enough that each block is worth sending.
BLOCKS_PER_WORKER = 4


def map_blocks(
    func: Callable[..., Any],
    array: SharedArray,
    *arrays: SharedArray,
    axis: int = 0,
    blocks: Optional[int] = None,
    processes: Optional[int] = None,
    out: Optional[SharedArray] = None,
    overlap: int = 0,
    progress: bool = False,
    pool: Optional[PoolLike] = None,
) -> SharedArray:
    """Runs ``func`` on blocks of shared arrays in a pool of processes.

    ``array`` (and each of ``arrays``, which must have its length along
    ``axis``) is cut along ``axis`` into ``blocks`` runs of consecutive
    indices, of equal length give or take one (as ``numpy.array_split``
    cuts). For each run ``start:stop``, ``func`` is called in a worker with
    ``block = array[..., start:stop, ...]`` (the slice taken on ``axis``),
    followed by the same slice of each of ``arrays``: ``func(block,
    *blocks_of_arrays)``. Each is a :class:`SharedArray` view of the
    caller's memory, with as many dimensions as its array, that reaches the
    worker as a reference. Then:

    * without ``out``, ``func`` works *in place*: it writes into the block
      of ``array`` and returns ``None`` (or a block itself, or another
      array that shares memory with one, as ``np.sqrt(block, out=block)``
      does). Returning any other value is a ``TypeError``: the result
      would be lost. The blocks of ``arrays`` are inputs, read-only if
      their arrays are.
    * with ``out``, a shared array whose length along ``axis`` is that of
      ``array``, ``func`` returns the block's result and the worker writes it
      into the same run of ``out`` (``out[..., start:stop, ...] = result``,
      numpy's broadcasting and ``same_kind`` casting). The blocks are then
      read-only if their arrays are.

    With ``overlap=k`` (stencils, filters, finite differences), each block
    also holds the ``k`` indices on each side of its run, clipped at the
    ends of the array: ``array[..., max(0, start - k):min(n, stop + k),
    ...]``, so a block at an end has less margin, as the whole array has
    no neighbours there. ``func`` returns a result with one entry per index
    of that larger block along ``axis`` (the same length along ``axis``),
    and the worker writes only the entries of the block's own run
    ``start:stop`` into ``out``: ``func`` computes the margin too, and it is
    thrown away. So a ``func`` that gives, at every index, what the same
    computation on the whole array gives there (when it sees ``k``
    neighbours on each side, or the array's end) gives the whole-array
    result. ``overlap`` needs ``out``, and ``out`` must not share memory
    with the inputs: a margin is another block's own run, and in place a
    worker would read it while the other writes it.

    Runs do not overlap, so no two workers write the same element (without
    ``overlap``, ``out`` must not overlap the inputs, unless it is ``array``
    itself). Whatever ``func`` returns never travels back to the caller.

    ``func`` may be any function: one defined at module level travels by
    its name; a lambda, a closure, or a function defined in ``__main__``
    (a script, a notebook) travels by value when cloudpickle is installed
    (it is, with joblib or Dask). Shared arrays that ``func`` refers to
    travel as references, valid while the caller holds them.

    Parameters
    ----------
    func : callable
        Called as ``func(block, *blocks_of_arrays)`` for each block.
    array : SharedArray
        The array to cut into blocks; the one written in place.
    *arrays : SharedArray
        More inputs, cut the same way: each needs ``array``'s length along
        ``axis`` (other axes may differ).
    axis : int, optional
        The axis along which to cut (negative counts from the end).
    blocks : int, optional
        How many blocks (at most ``array.shape[axis]``). Default:
        ``BLOCKS_PER_WORKER`` per worker.
    processes : int, optional
        Workers of the pool made for this call. Default: the CPUs this
        process may run on. With ``pool``, only the default of ``blocks``
        uses it.
    out : SharedArray, optional
        Where results go; ``None`` to work in place.
    overlap : int, optional
        Indices of margin on each side of each block along ``axis``
        (default 0); needs ``out``.
    progress : bool, optional
        Show a tqdm progress bar (on stderr) that advances as blocks finish.
    pool : multiprocessing.pool.Pool or concurrent.futures.Executor, optional
        A pool to run on instead of making one, of any start method. It is
        used, not closed.

    Returns
    -------
    SharedArray
        ``out`` if given, else ``array``, once every block is done.

    Raises
    ------
    Exception
        The first exception raised in a worker, once the blocks already
        running have finished (no other block starts after it). Its
        ``__cause__`` holds the worker's traceback, and a note names the
        block.
    TypeError
        An argument of the wrong type; or ``func`` cannot be sent to the
        workers (a lambda without cloudpickle installed): the message says
        how to fix it.
    ValueError
        Arguments that do not fit together: lengths along ``axis``, an
        ``out`` of the wrong length, ``overlap`` without ``out``, a read-only
        array to work on in place.

    Examples
    --------
    >>> import numpy as np, ndshare
    >>> from ndshare.parallel import map_blocks
    >>> x = ndshare.array(np.arange(8.0) ** 2)
    >>> d = map_blocks(np.gradient, x, out=ndshare.zeros_like(x), overlap=1, blocks=3, processes=2)
    >>> bool((d == np.gradient(np.arange(8.0) ** 2)).all())
    True
    """
    inputs = (array, *arrays)
    for i, a in enumerate(inputs):
        if not isinstance(a, SharedArray) or a.segment is None:
            which = "" if i == 0 else f" (input {i + 1})"
            raise TypeError(
                f"map_blocks needs a SharedArray{which}, not {type(a).__name__}: "
                "copy the data into one with ndshare.array(...)"
            )
    ax = _normalize_axis(axis, array.ndim)
    n = array.shape[ax]
    for i, a in enumerate(arrays, 2):
        if a.ndim <= ax or a.shape[ax] != n:
            raise ValueError(
                f"input {i} (shape {a.shape}) must have the first input's length {n} along axis {ax}, "
                "to be cut into the same blocks"
            )
    margin = operator.index(overlap)
    if margin < 0:
        raise ValueError(f"overlap must be at least 0, not {overlap}")
    if out is None:
        if margin:
            raise ValueError(
                "overlap needs out=: in place, a block's margin is another block's own part, "
                "which that block's worker may be writing while this one reads it"
            )
        if not array.flags.writeable:
            raise ValueError("array is read-only: pass out= to collect func's results")
    else:
        _check_out(out, array, ax)
        if margin and any(np.may_share_memory(out, a) for a in inputs):
            raise ValueError(
                "with overlap, out must not share memory with the inputs: a block's margin "
                "is another block's own part, which would be written while it is read"
            )
    if processes is not None and operator.index(processes) < 1:
        raise ValueError(f"processes must be at least 1, not {processes}")
    if blocks is not None and operator.index(blocks) < 1:
        raise ValueError(f"blocks must be at least 1, not {blocks}")
    sent = _sendable(func, pool)
    workers = processes if processes is not None else _pool_size(pool)
    count = min(n, BLOCKS_PER_WORKER * workers if blocks is None else operator.index(blocks))
    result = array if out is None else out
    if n == 0:
        return result

    tasks = []
    for i, (start, stop) in enumerate(_bounds(n, count)):
        lo, hi = max(0, start - margin), min(n, stop + margin)
        tasks.append(
            (
                sent,
                tuple(a[_run(ax, lo, hi)] for a in inputs),
                None if out is None else out[_run(ax, start, stop)],
                None if not margin else (ax, start - lo, stop - lo),
                f"in ndshare.parallel.map_blocks: block {i} of {count}, indices {start}:{stop} along axis {ax}",
            )
        )
    bar = _progress_bar(func, count) if progress else None
    try:
        if pool is not None:
            _run_all(pool, tasks, 2 * workers, bar)
        else:
            with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, count)) as own:
                _run_all(own, tasks, 2 * workers, bar)
    finally:
        if bar is not None:
            bar.close()
    return result


class _ByValue:
    """A function pickled by cloudpickle (by value where pickle would send
    only its name), unpickled in the worker; its shared arrays travel inside
    as references."""

    __slots__ = ("payload", "name")

    def __init__(self, payload: bytes, name: str) -> None:
        self.payload = payload
        self.name = name

    def load(self) -> Callable[..., Any]:
        return cast(Callable[..., Any], pickle.loads(self.payload))


def _cloudpickle() -> Any:
    try:
        import cloudpickle  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        try:
            from joblib.externals import cloudpickle  # type: ignore[import-untyped, no-redef, unused-ignore]
        except ImportError:
            return None
    return cloudpickle


def _sendable(func: Callable[..., Any], pool: Optional[PoolLike]) -> Union[Callable[..., Any], _ByValue]:
    """``func`` as the workers receive it: itself when pickle sends it by
    name to any process (a module-level function of an importable module),
    else by value through cloudpickle; without cloudpickle, an error that
    says what to do."""
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    failure: Optional[BaseException] = None
    try:
        with by_reference():
            pickle.dumps(func)
    except Exception as e:  # noqa: BLE001 - pickle raises many kinds
        failure = e
    if failure is None and not _in_main(func):
        return func
    cp = _cloudpickle()
    if cp is None:
        if failure is None and (_start_method(pool) == "fork" or _main_is_a_file()):
            # A function of __main__: fork workers have it; spawn and
            # forkserver workers re-run a script's __main__ and find it.
            return func
        raise TypeError(
            f"map_blocks cannot send {_name(func)} to worker processes: pickle sends a function "
            "by its module and name only. Define it at module level (in a module, or before the "
            "'if __name__ == \"__main__\":' line of a script), or install cloudpickle "
            "(pip install cloudpickle; joblib includes it) to send it by value"
        ) from failure
    with by_reference():
        return _ByValue(cp.dumps(func), _name(func))


def _main_is_a_file() -> bool:
    main = sys.modules.get("__main__")
    return getattr(main, "__file__", None) is not None


def _start_method(pool: Optional[PoolLike]) -> Optional[str]:
    """How the workers of ``pool`` (or of the pool map_blocks makes) start:
    "fork", "spawn", "forkserver", or None for threads and unknown pools."""
    if pool is None:
        return multiprocessing.get_start_method()
    ctx = getattr(pool, "_mp_context", None) or getattr(pool, "_ctx", None)
    if isinstance(pool, concurrent.futures.ProcessPoolExecutor) and ctx is None:
        return multiprocessing.get_start_method()
    method = getattr(ctx, "get_start_method", None)
    return method() if callable(method) else None


def _in_main(func: Callable[..., Any]) -> bool:
    target = getattr(func, "func", func)  # a functools.partial: its function
    return getattr(target, "__module__", None) == "__main__"


def _run_block(
    func: Union[Callable[..., Any], _ByValue],
    blocks: Tuple[SharedArray, ...],
    out_block: Optional[SharedArray],
    trim: Optional[Tuple[int, int, int]],
    where: str,
) -> None:
    """One block, in a worker."""
    try:
        if isinstance(func, _ByValue):
            func = func.load()
        res = func(*blocks)
        if out_block is None:
            # (A block with no element shares no memory, even with itself.)
            in_place = res is None or any(
                res is b or (isinstance(res, np.ndarray) and np.shares_memory(res, b)) for b in blocks
            )
            if not in_place:
                raise TypeError(
                    f"{_name(func)} returned a {type(res).__name__} for a block worked on in place; "
                    "write into the block and return None, or pass out= to collect results"
                )
        elif res is None:
            raise TypeError(f"{_name(func)} returned None, but out= expects the block's result")
        elif trim is None:
            out_block[...] = res
        else:
            ax, own_start, own_stop = trim
            res = np.asarray(res)
            length = blocks[0].shape[ax]
            if res.ndim <= ax or res.shape[ax] != length:
                raise ValueError(
                    f"with overlap, {_name(func)} must return one entry per index of its block along "
                    f"axis {ax} (length {length}, margins included), not an array of shape {res.shape}"
                )
            out_block[...] = res[_run(ax, own_start, own_stop)]
    except Exception as e:
        if hasattr(e, "add_note"):  # Python >= 3.11
            e.add_note(where)
        raise


Task = Tuple[
    Union[Callable[..., Any], _ByValue],
    Tuple[SharedArray, ...],
    Optional[SharedArray],
    Optional[Tuple[int, int, int]],
    str,
]


def _run_all(pool: PoolLike, tasks: list[Task], window: int, bar: Any) -> None:
    """Keeps at most ``window`` blocks queued or running; after the first
    failure starts no more, waits for those still running, then raises it."""
    done: queue.SimpleQueue[Tuple[int, Optional[BaseException]]] = queue.SimpleQueue()
    pending: Dict[int, Any] = {}
    first_error: Optional[BaseException] = None
    next_task = 0
    try:
        while True:
            while first_error is None and next_task < len(tasks) and len(pending) < window:
                pending[next_task] = _submit(pool, tasks[next_task], next_task, done)
                next_task += 1
            if not pending:
                break
            index, error = done.get()
            del pending[index]
            if error is not None:
                if first_error is None:
                    first_error = error
                    _cancel(pending.values())
            elif bar is not None:
                bar.update(1)
    except BaseException:  # KeyboardInterrupt: start nothing more
        _cancel(pending.values())
        raise
    if first_error is not None:
        raise first_error


def _cancel(handles: Any) -> None:
    for handle in handles:
        if isinstance(handle, concurrent.futures.Future):
            handle.cancel()  # a block not started yet; its callback still reports it


def _submit(
    pool: PoolLike, task: Task, index: int, done: queue.SimpleQueue[Tuple[int, Optional[BaseException]]]
) -> Any:
    if isinstance(pool, concurrent.futures.Executor):
        fut = pool.submit(_run_block, *task)

        def report(f: concurrent.futures.Future[None]) -> None:
            if f.cancelled():
                done.put((index, concurrent.futures.CancelledError()))
            else:
                done.put((index, f.exception()))

        fut.add_done_callback(report)
        return fut
    if isinstance(pool, multiprocessing.pool.Pool):
        return pool.apply_async(
            _run_block,
            task,
            callback=lambda _: done.put((index, None)),
            error_callback=lambda e: done.put((index, e)),
        )
    raise TypeError(f"pool must be a multiprocessing.Pool or a concurrent.futures.Executor, not {type(pool).__name__}")


def _progress_bar(func: Callable[..., Any], total: int) -> Any:
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install tqdm (or ndshare[progress])") from None
    return tqdm(total=total, desc=_name(func), unit="block")


def _name(func: Callable[..., Any]) -> str:
    return (
        getattr(func, "__qualname__", None) or getattr(getattr(func, "func", None), "__qualname__", None) or repr(func)
    )


def _normalize_axis(axis: int, ndim: int) -> int:
    ax = operator.index(axis)
    if not -ndim <= ax < ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of {ndim} dimensions")
    return ax % ndim


def _check_out(out: SharedArray, array: SharedArray, ax: int) -> None:
    if not isinstance(out, SharedArray) or out.segment is None:
        raise TypeError(f"out must be a SharedArray, not {type(out).__name__}: the workers write into it")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if out.ndim <= ax or out.shape[ax] != array.shape[ax]:
        raise ValueError(f"out (shape {out.shape}) must have array's length {array.shape[ax]} along axis {ax}")


def _pool_size(pool: Optional[PoolLike]) -> int:
    # Only sizes the default number of blocks and the submission window:
    # the pools keep their size in private attributes, read when present.
    size = getattr(pool, "_max_workers", None) or getattr(pool, "_processes", None)
    if isinstance(size, int) and size > 0:
        return size
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _bounds(n: int, count: int) -> list[Tuple[int, int]]:
    base, extra = divmod(n, count)
    out, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def _run(ax: int, start: int, stop: int) -> Tuple[slice, ...]:
    return (slice(None),) * ax + (slice(start, stop),)
