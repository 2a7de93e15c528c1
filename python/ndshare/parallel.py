"""Process a shared array block by block on every core, in one call.

>>> import numpy as np, ndshare, ndshare.parallel
>>> a = ndshare.array(np.arange(12.0).reshape(6, 2))
>>> ndshare.parallel.map_blocks(np.square, a, out=ndshare.zeros_like(a), blocks=3)[:, 0]
SharedArray([  0.,   4.,  16.,  36.,  64., 100.])
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing.pool
import operator
import os
import queue
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np

from ._array import SharedArray

#: What ``pool=`` accepts: a ``multiprocessing`` pool or a
#: ``concurrent.futures`` executor (``ProcessPoolExecutor``, or a
#: ``ThreadPoolExecutor`` when ``func`` releases the GIL).
PoolLike = Union[multiprocessing.pool.Pool, concurrent.futures.Executor]

#: Blocks per worker when ``blocks`` is not given: enough to even out
#: blocks of unequal cost, few enough that each block is worth sending.
BLOCKS_PER_WORKER = 4


def map_blocks(
    func: Callable[[SharedArray], Any],
    array: SharedArray,
    *,
    axis: int = 0,
    blocks: Optional[int] = None,
    processes: Optional[int] = None,
    out: Optional[SharedArray] = None,
    progress: bool = False,
    pool: Optional[PoolLike] = None,
) -> SharedArray:
    """Runs ``func`` on blocks of ``array`` in a pool of processes.

    ``array`` is cut along ``axis`` into ``blocks`` runs of consecutive
    indices, of equal length give or take one (as ``numpy.array_split``
    cuts). For each run ``start:stop``, ``func`` is called in a worker with
    ``block = array[..., start:stop, ...]`` (the slice taken on ``axis``): a
    :class:`SharedArray` view of the caller's memory, with the same number of
    dimensions as ``array``, that reaches the worker as a reference. Then:

    * without ``out``, ``func`` works *in place*: it writes into ``block``
      and returns ``None`` (or ``block`` itself, or another array that shares
      its memory, as ``np.sqrt(block, out=block)`` does). Returning any other
      value is a ``TypeError``: the result would be lost.
    * with ``out``, a shared array whose length along ``axis`` is that of
      ``array``, ``func`` returns the block's result and the worker writes it
      into the same run of ``out`` (``out[..., start:stop, ...] = result``,
      numpy's broadcasting and ``same_kind`` casting). ``block`` is then
      read-only if ``array`` is.

    Runs do not overlap, so no two workers write the same element (``out``
    must not overlap ``array``, unless it is ``array`` itself). Whatever
    ``func`` returns never travels back to the caller.

    Args:
        func: A picklable callable (a module-level function, or a
            ``functools.partial`` of one): the workers receive it by name.
        array: The shared array to cut into blocks.
        axis: The axis along which to cut (negative counts from the end).
        blocks: How many blocks (at most ``array.shape[axis]``). Default:
            ``BLOCKS_PER_WORKER`` per worker.
        processes: Workers of the pool made for this call. Default: the
            CPUs this process may run on. With ``pool``, only the default
            of ``blocks`` uses it.
        out: Where results go; ``None`` to work in place.
        progress: Show a tqdm progress bar (on stderr) that advances as
            blocks finish.
        pool: A pool to run on instead of making one: a
            ``multiprocessing.Pool`` or a ``concurrent.futures`` executor,
            of any start method. It is used, not closed.

    Returns:
        ``out`` if given, else ``array``, once every block is done.

    Raises:
        The first exception raised in a worker, once the blocks already
        running have finished (no other block starts after it). Its
        ``__cause__`` holds the worker's traceback, and a note names the
        block. ``TypeError``/``ValueError`` for arguments that do not fit.
    """
    if not isinstance(array, SharedArray) or array.segment is None:
        raise TypeError(
            f"map_blocks needs a SharedArray, not {type(array).__name__}: "
            "copy the data into one with ndshare.array(...)"
        )
    ax = _normalize_axis(axis, array.ndim)
    n = array.shape[ax]
    if out is None:
        if not array.flags.writeable:
            raise ValueError("array is read-only: pass out= to collect func's results")
    else:
        _check_out(out, array, ax)
    if processes is not None and operator.index(processes) < 1:
        raise ValueError(f"processes must be at least 1, not {processes}")
    if blocks is not None and operator.index(blocks) < 1:
        raise ValueError(f"blocks must be at least 1, not {blocks}")
    workers = processes if processes is not None else _pool_size(pool)
    count = min(n, BLOCKS_PER_WORKER * workers if blocks is None else operator.index(blocks))
    result = array if out is None else out
    if n == 0:
        return result

    bounds = _bounds(n, count)
    tasks = [
        (func, array[_run(ax, start, stop)], None if out is None else out[_run(ax, start, stop)],
         f"in ndshare.parallel.map_blocks: block {i} of {count}, indices {start}:{stop} along axis {ax}")
        for i, (start, stop) in enumerate(bounds)
    ]
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


def _run_block(func: Callable[[SharedArray], Any], block: SharedArray, out_block: Optional[SharedArray], where: str) -> None:
    """One block, in a worker."""
    try:
        res = func(block)
        if out_block is None:
            # (A block with no element shares no memory, even with itself.)
            in_place = res is None or res is block or (isinstance(res, np.ndarray) and np.shares_memory(res, block))
            if not in_place:
                raise TypeError(
                    f"{_name(func)} returned a {type(res).__name__} for a block worked on in place; "
                    "write into the block and return None, or pass out= to collect results"
                )
        elif res is None:
            raise TypeError(f"{_name(func)} returned None, but out= expects the block's result")
        else:
            out_block[...] = res
    except Exception as e:
        if hasattr(e, "add_note"):  # Python >= 3.11
            e.add_note(where)
        raise


Task = Tuple[Callable[[SharedArray], Any], SharedArray, Optional[SharedArray], str]


def _run_all(pool: PoolLike, tasks: "list[Task]", window: int, bar: Any) -> None:
    """Keeps at most ``window`` blocks queued or running; after the first
    failure starts no more, waits for those still running, then raises it."""
    done: "queue.SimpleQueue[Tuple[int, Optional[BaseException]]]" = queue.SimpleQueue()
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


def _submit(pool: PoolLike, task: Task, index: int, done: "queue.SimpleQueue[Tuple[int, Optional[BaseException]]]") -> Any:
    if isinstance(pool, concurrent.futures.Executor):
        fut = pool.submit(_run_block, *task)

        def report(f: "concurrent.futures.Future[None]") -> None:
            if f.cancelled():
                done.put((index, concurrent.futures.CancelledError()))
            else:
                done.put((index, f.exception()))

        fut.add_done_callback(report)
        return fut
    if isinstance(pool, multiprocessing.pool.Pool):
        return pool.apply_async(
            _run_block, task, callback=lambda _: done.put((index, None)),
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
    return getattr(func, "__qualname__", None) or getattr(getattr(func, "func", None), "__qualname__", None) or repr(func)


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
        raise ValueError(
            f"out (shape {out.shape}) must have array's length {array.shape[ax]} along axis {ax}"
        )


def _pool_size(pool: Optional[PoolLike]) -> int:
    # Only sizes the default number of blocks and the submission window:
    # the pools keep their size in private attributes, read when present.
    size = getattr(pool, "_max_workers", None) or getattr(pool, "_processes", None)
    if isinstance(size, int) and size > 0:
        return size
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _bounds(n: int, count: int) -> "list[Tuple[int, int]]":
    base, extra = divmod(n, count)
    out, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def _run(ax: int, start: int, stop: int) -> Tuple[slice, ...]:
    return (slice(None),) * ax + (slice(start, stop),)
