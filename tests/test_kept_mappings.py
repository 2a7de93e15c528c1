"""Mappings kept between tasks: a process that received an array keeps its
mapping for NDSHARE_KEEP_SECONDS after its last use, so the next task on the
same array maps and faults nothing; the memory still comes back within that
bound, at once after ``ndshare.release_kept()``, and a forked child keeps
nothing of its parent's."""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from _procfs import ShmemWatch, holders_of, wait_until
from conftest import run_python

import ndshare

MiB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")

#: The segment the previous task of this worker received.
_previous: Optional[weakref.ref[Any]] = None


def maps_of(file_id: Tuple[int, int]) -> int:
    """How many mappings of the file (dev, ino) this process has."""
    dev, ino = file_id
    maps_dev = f"{os.major(dev):02x}:{os.minor(dev):02x}"
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if line.split()[3:5] == [maps_dev, str(ino)])


def read_all(a: ndshare.SharedArray) -> Tuple[bool, int, int, float]:
    """A task that reads all of `a`: whether it arrived as the very segment
    the previous task had, the mappings of its file, the minor page faults
    of reading it, and its sum."""
    global _previous
    seg = a.segment
    assert seg is not None
    same = _previous is not None and _previous() is seg
    _previous = weakref.ref(seg)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    total = float(a.sum())
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return same, maps_of(seg.file_id), faults, total


def touch(a: ndshare.SharedArray) -> int:
    """A task that reads `a` and drops it, as any task does at its end."""
    return int(a[-1])


def collect() -> int:
    gc.collect()
    return os.getpid()


@pytest.mark.parametrize("readonly", [False, True])
def test_a_worker_reuses_the_mapping_of_the_previous_task(readonly: bool) -> None:
    a = ndshare.ones(64 * MiB // 8)
    if readonly:
        a.flags.writeable = False
    pages = a.nbytes // PAGE
    with mp.get_context("spawn").Pool(1) as pool:
        first = pool.apply(read_all, (a,))
        second = pool.apply(read_all, (a,))
        third = pool.apply(read_all, (a[::2],))  # another view of the same memory
    assert first[3] == second[3] == a.size and third[3] == a.size // 2
    assert first[0] is False
    # The second and third tasks got the mapping the first one made: the same
    # segment object, one mapping of the file, and next to no page faults.
    assert (second[0], third[0]) == (True, True), (first, second, third)
    assert first[1] == second[1] == third[1], (first, second, third)
    assert second[2] < pages // 64 and third[2] < pages // 64, (pages, first, second, third)


def test_release_kept_unmaps_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDSHARE_KEEP_SECONDS", "600")  # only release_kept lets go here
    size = 256 * MiB
    a = ndshare.ones(size // 8)
    file_id = a.segment.file_id
    with mp.get_context("spawn").Pool(1) as pool:
        worker = pool.apply(collect)
        assert pool.apply(touch, (a,)) == 1
        pool.apply(collect)
        # The task is over and its views are gone: the worker keeps the mapping.
        assert worker in holders_of(file_id)
        with ShmemWatch() as watch:
            pool.apply(ndshare.release_kept)
            assert worker not in holders_of(file_id)  # no wait: it is gone already
            del a
            assert not holders_of(file_id)
        drop = watch.largest_drop()
        assert drop > size // 1024 // 2, f"Shmem fell by {drop} KiB at most; the array is {size // 1024} KiB"


def test_memory_comes_back_within_the_keep_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    keep = 1.0
    monkeypatch.setenv("NDSHARE_KEEP_SECONDS", str(keep))
    size = 256 * MiB
    a = ndshare.ones(size // 8)
    file_id = a.segment.file_id
    with mp.get_context("spawn").Pool(1) as pool:
        worker = pool.apply(collect)
        assert pool.apply(touch, (a,)) == 1
        with ShmemWatch() as watch:
            del a
            # The worker lives on, idle: its timer alone lets the mapping go
            # (the timeout only bounds a broken implementation).
            assert wait_until(lambda: not holders_of(file_id), keep + 14), holders_of(file_id)
        assert pool.apply(collect) == worker
    drop = watch.largest_drop(window=keep + 14)
    assert drop > size // 1024 // 2, f"Shmem fell by {drop} KiB at most; the array is {size // 1024} KiB"


def fork_and_look(file_id: Tuple[int, int]) -> Tuple[int, int]:
    """Forks a child that reports how many mappings of the file it has;
    returns that and this process's count."""
    pid = os.fork()
    if pid == 0:
        os._exit(maps_of(file_id))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), maps_of(file_id)


def test_a_forked_child_keeps_nothing_of_its_parents() -> None:
    a = ndshare.ones(MiB)
    file_id = a.segment.file_id
    with mp.get_context("spawn").Pool(1) as pool:
        assert pool.apply(touch, (a,)) == 1
        assert pool.apply(fork_and_look, (file_id,)) == (0, 1)


def test_kept_named_array_counts_as_an_attacher(name: str) -> None:
    a = ndshare.ones(1000, name=name)
    with mp.get_context("spawn").Pool(1) as pool:
        worker = pool.apply(collect)
        assert pool.apply(touch, (a,)) == 1
        pool.apply(collect)
        assert worker in {x.pid for x in a.info().attachers if x.alive}
        pool.apply(ndshare.release_kept)
        assert worker not in {x.pid for x in a.info().attachers if x.alive}


def kept_flags_while_in_use(a: ndshare.SharedArray) -> List[bool]:
    """A task that, holding `a`, reads whether its own entries in the
    attacher table say kept."""
    return [x.kept for x in a.info().attachers if x.pid == os.getpid()]


def ndshare_cmd_out(*args: str) -> str:
    script = str(Path(sys.executable).with_name("ndshare"))
    out = subprocess.run([script, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    return out.stdout


def ndshare_info(name: str, *args: str) -> str:
    return ndshare_cmd_out("info", name, *args)


def test_a_kept_holder_is_shown_as_kept(name: str) -> None:
    a = ndshare.ones(1000, name=name)
    me = os.getpid()
    with mp.get_context("spawn").Pool(1) as pool:
        worker = pool.apply(collect)
        # In use during a task: not kept.
        assert pool.apply(kept_flags_while_in_use, (a,)) == [False]
        pool.apply(collect)
        # The task is over and its result dropped: the worker only keeps it.
        kept = {x.pid: x.kept for x in a.info().attachers if x.alive}
        assert kept == {me: False, worker: True}
        attachers = json.loads(ndshare_info(name, "--json"))["attachers"]
        assert {e["pid"]: e["kept"] for e in attachers if e["alive"]} == {me: False, worker: True}
        text = ndshare_info(name)
        assert "attachers       2 live processes, 1 of them keeping it after use\n" in text
        assert f"  {worker} " in text and "yes (kept after use)" in text
        listed = ndshare_cmd_out("list")
        assert [line for line in listed.splitlines() if line.startswith(name + " ")][0].count(" 2 (1 kept) ") == 1
        # Used again: no longer kept.
        assert pool.apply(kept_flags_while_in_use, (a,)) == [False]
        pool.apply(collect)
        assert {x.pid: x.kept for x in a.info().attachers if x.alive} == {me: False, worker: True}
        pool.apply(ndshare.release_kept)
        assert {x.pid: x.kept for x in a.info().attachers if x.alive} == {me: False}
        assert "attachers       1 live process\n" in ndshare_info(name)


@pytest.mark.parametrize(
    "var, value",
    [("NDSHARE_KEEP_SECONDS", "soon"), ("NDSHARE_KEEP_SECONDS", "-1"), ("NDSHARE_KEEP_BYTES", "lots")],
)
def test_a_bad_bound_is_an_error_naming_it(var: str, value: str) -> None:
    out = run_python(
        f"import os; os.environ[{var!r}] = {value!r}\ntry:\n import ndshare\nexcept ValueError as e:\n print(e)",
    )
    assert out.stdout.startswith(f"{var}={value!r}"), out


def test_bytes_bound_accepts_binary_suffixes() -> None:
    out = run_python("import ndshare._kept as k; print(k.KEEP_BYTES)")
    assert out.stdout.split() == [str(4 << 30)]
    for text, want in [("512M", 512 << 20), ("1GiB", 1 << 30), ("12345", 12345), ("0", 0)]:
        code = f"import os; os.environ['NDSHARE_KEEP_BYTES'] = {text!r}\nimport ndshare._kept as k; print(k.KEEP_BYTES)"
        assert run_python(code).stdout.split() == [str(want)], text
