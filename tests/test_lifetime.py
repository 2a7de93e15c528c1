"""Lifetime: no array leaks however its processes end; named arrays record
who maps them; the name and the memory part at the right moments."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import pytest
from _procfs import ShmemWatch, holders_of, is_gone, shm_free_bytes, shm_names, start_ticks, wait_until
from conftest import run_python

import ndshare

TREE = str(Path(__file__).with_name("_tree.py"))
ROLES = ["parent", "child", "grandchild"]
WAYS = ["exit", "raise", "_exit", "SIGTERM", "SIGKILL"]
MiB = 2**20
SIZE = 128 * MiB


def named_size() -> int:
    """The size of a named test array: SIZE where /dev/shm has room for a
    few, else a quarter of its free space in whole MiB (at least 12 MiB): in
    a default Docker container /dev/shm is 64 MiB. Anonymous arrays are not
    bounded by /dev/shm and always take SIZE."""
    return min(SIZE, max(12 * MiB, shm_free_bytes() // 4 // MiB * MiB))


NDSHARE = str(Path(sys.executable).with_name("ndshare"))


class Tree:
    """A parent, child and grandchild (tests/_tree.py) sharing one array."""

    def __init__(self, ctl: Path, name: Optional[str]) -> None:
        self.ctl = ctl
        self.size = named_size() if name else SIZE
        self.log = open(ctl / "stderr.log", "w+")
        cmd = [sys.executable, TREE, str(ctl), str(self.size)] + ([name] if name else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        self.pids: Dict[str, int] = {}
        self.ordered: Dict[str, str] = {}
        for role in ROLES:
            ready = ctl / f"{role}.ready"
            assert wait_until(lambda: ready.exists() or self.proc.poll() is not None, 90), role
            assert ready.exists(), f"{role} never got ready: {self.stderr()}"
            fields = ready.read_text().split()
            self.pids[role] = int(fields[0])
            if role == "parent":
                self.file_id: Tuple[int, int] = (int(fields[1]), int(fields[2]))

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def order(self, role: str, way: str) -> None:
        """Tells `role` how to end, once; the file appears whole."""
        assert role not in self.ordered
        self.ordered[role] = way
        tmp = self.ctl / f".{role}.order"
        tmp.write_text(way)
        tmp.rename(self.ctl / role)

    def end(self, role: str, way: str) -> None:
        pid = self.pids[role]
        if way in ("SIGTERM", "SIGKILL"):
            self.ordered[role] = way
            os.kill(pid, getattr(signal, way))
        else:
            self.order(role, way)
        if role == "parent" and way in ("_exit", "SIGTERM", "SIGKILL"):
            self.proc.wait(60)
        # A process that returns or raises first waits for its children
        # (multiprocessing joins them at exit): it ends with them.
        if way in ("_exit", "SIGTERM", "SIGKILL") or role == "grandchild":
            assert wait_until(lambda: is_gone(pid), 60), f"{role} {pid} did not end"

    def end_all(self) -> None:
        for role in ROLES:
            if role not in self.ordered:
                self.order(role, "exit")
        self.proc.wait(60)
        for role in ROLES:
            assert wait_until(lambda: is_gone(self.pids[role]), 60), role

    def close(self) -> None:
        for pid in self.pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.kill()
        self.proc.wait()
        self.log.close()


@pytest.fixture
def tree_factory(tmp_path: Path) -> Iterator[object]:
    trees = []

    def make(name: Optional[str] = None) -> Tree:
        t = Tree(tmp_path, name)
        trees.append(t)
        return t

    yield make
    for t in trees:
        t.close()


def assert_freed(watch: ShmemWatch, size: int) -> None:
    """The array's memory (`size` bytes) went back to the machine while
    `watch` looked: Shmem fell by at least half its size within a second
    (Shmem is machine-wide, and other programs come and go). The exact
    evidence, that no process holds the file any more, is `holders_of`,
    checked first."""
    drop = watch.largest_drop()
    assert drop > size // 1024 // 2, f"Shmem fell by {drop} KiB at most; the array is {size // 1024} KiB"


def live_attacher_pids(name: str) -> set[int]:
    return {a.pid for a in ndshare.info(name).attachers if a.alive}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("role", ROLES)
def test_anonymous_array_never_leaks(tree_factory, role: str, way: str) -> None:  # type: ignore[no-untyped-def]
    tree = tree_factory()
    pids = set(tree.pids.values())
    assert pids <= holders_of(tree.file_id)

    tree.end(role, way)
    # The others still hold the memory: it is there, and theirs. (A process
    # told to return or raise may linger, joining its children, but may
    # have dropped the array already.)
    rest = {tree.pids[r] for r in ROLES if r != role and not is_gone(tree.pids[r])}
    assert rest, "someone must still hold it"
    assert rest <= holders_of(tree.file_id) <= pids

    with ShmemWatch() as watch:
        tree.end_all()
        assert wait_until(lambda: not holders_of(tree.file_id)), holders_of(tree.file_id)
    assert_freed(watch, tree.size)
    assert tree.proc.returncode == {"raise": 1, "SIGTERM": -15, "SIGKILL": -9, "_exit": 0}.get(
        way if role == "parent" else "", 0
    ), tree.stderr()


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("role", ROLES)
def test_named_array_bookkeeping_survives_every_ending(tree_factory, role: str, way: str) -> None:  # type: ignore[no-untyped-def]
    name = f"life-{uuid.uuid4().hex[:12]}"
    try:
        tree = tree_factory(name)
        pids = tree.pids
        assert name in shm_names()
        info = ndshare.info(name)
        assert info.creator_pid == pids["parent"] and info.creator_alive
        assert live_attacher_pids(name) == set(pids.values())
        assert info.status == "in use"

        tree.end(role, way)
        rest = {pids[r] for r in ROLES if r != role and not is_gone(pids[r])}
        live = live_attacher_pids(name)
        assert rest <= live <= set(pids.values())
        if is_gone(pids[role]):
            assert live == rest
        assert ndshare.info(name).status == "in use"

        tree.end_all()
        # A named array stays until its name goes, whoever ended how.
        assert name in shm_names()
        info = ndshare.info(name)
        assert info.live_attachers == 0 and not info.creator_alive
        assert info.status == "stale", info
        assert not holders_of(tree.file_id)  # only the name keeps it

        with ShmemWatch() as watch:
            out = subprocess.run([NDSHARE, "gc", "--prefix", name], capture_output=True, text=True, check=True)
        first = out.stdout.splitlines()[0]
        assert re.match(
            rf"removed {re.escape(name)} \({tree.size // MiB}(\.0)? MiB of data, [0-9.]+ [KMG]iB file\): stale", first
        ), first
        assert name not in shm_names()
        assert_freed(watch, tree.size)
    finally:
        try:
            ndshare.unlink(name)
        except FileNotFoundError:
            pass


def test_unlink_removes_the_name_not_the_memory(name: str) -> None:
    size = named_size()
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, ndshare\n"
            "a = ndshare.full(%d, 7.0, name=sys.argv[1])\n"
            "print(*a.segment.file_id, flush=True)\n"
            "sys.stdin.readline()\n"
            "a[5] += 1\n"
            "print(a[0], a[5], flush=True)\n" % (size // 8),
            name,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdin is not None
        file_id = tuple(int(x) for x in holder.stdout.readline().split())
        reader = ndshare.attach(name)
        ndshare.unlink(name)
        assert name not in shm_names()
        with pytest.raises(FileNotFoundError):
            ndshare.attach(name)
        # Both mappers keep the memory and still share it.
        assert holders_of(file_id) >= {holder.pid, os.getpid()}  # type: ignore[arg-type]
        reader[0] = 11.0
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().split() == ["11.0", "8.0"]
        assert holder.wait(60) == 0
    assert reader[5] == 8.0
    assert holders_of(file_id) == {os.getpid()}  # type: ignore[arg-type]
    with ShmemWatch() as watch:
        del reader
        assert wait_until(lambda: not holders_of(file_id))  # type: ignore[arg-type]
    assert_freed(watch, size)


def test_info_matches_the_header_and_the_processes(name: str) -> None:
    a = ndshare.zeros((3, 5), dtype="<i4", order="F", name=name)
    me = (os.getpid(), start_ticks(os.getpid()))
    info = ndshare.info(name)
    assert (info.name, info.shape, info.dtype, info.nbytes, info.itemsize) == (name, (3, 5), "<i4", 60, 4)
    assert (info.strides, info.order, info.header_bytes, info.format_version) == ((4, 12), "F", 4096, "1.3")
    assert (info.creator_pid, info.creator_start_ticks, info.creator_alive) == (*me, True)
    assert (info.path, info.mode, info.uid) == (f"/dev/shm/ndshare.{name}", 0o600, os.getuid())
    assert [(x.slot, x.pid, x.start_ticks, x.alive) for x in info.attachers] == [(0, *me, True)]
    assert (info.live_attachers, info.status, info.stale) == (1, "in use", False)
    assert a.info() == info
    # A second mapping in this process takes a second slot, one process.
    b = ndshare.attach(name, readonly=True)
    info2 = b.info()
    assert [x.slot for x in info2.attachers] == [0, 1] and info2.live_attachers == 1
    del a, b
    info3 = ndshare.info(name)
    assert info3.attachers == () and info3.status == "creator alive"
    anon = ndshare.zeros(4).info()
    assert (anon.name, anon.path, anon.status, anon.attachers, anon.shape) == (None, None, None, (), (4,))
    with pytest.raises(FileNotFoundError):
        ndshare.info(name + "-missing")
    with pytest.raises(ValueError):
        np.ndarray.copy(ndshare.zeros(2)).info()


def test_with_block_unlinks_the_name(name: str) -> None:
    with ndshare.zeros((2, 2), name=name) as a:
        assert type(a) is ndshare.SharedArray
        assert name in shm_names()
        a[0, 0] = 5
        b = ndshare.attach(name)
    assert name not in shm_names()
    assert a[0, 0] == 5 and b[0, 0] == 5  # the memory stays with its mappers
    b[1, 1] = 6
    assert a[1, 1] == 6
    # Also when the block raises; and a name that now names another array is
    # left alone.
    with pytest.raises(KeyError):
        with ndshare.zeros(3, name=name):
            raise KeyError("boom")
    assert name not in shm_names()
    first = ndshare.zeros(3, name=name)
    ndshare.unlink(name)
    second = ndshare.zeros(3, name=name)
    with first:
        pass
    assert name in shm_names() and ndshare.attach(name).segment.file_id == second.segment.file_id  # type: ignore[union-attr]
    with ndshare.zeros(1) as anon:  # an anonymous array has no name to remove
        anon[0] = 1


def test_info_of_an_unlinked_array_says_so(name: str) -> None:
    a = ndshare.zeros(4, name=name)
    assert (a.info().path, a.info().status) == (f"/dev/shm/ndshare.{name}", "in use")
    # Another process removes the name: this process still maps the array.
    run_python("import sys, ndshare; ndshare.unlink(sys.argv[1])", name)
    info = a.info()
    assert (info.name, info.path, info.status, info.stale) == (name, None, "unlinked", False)
    assert info.status_detail is not None and "its name was removed" in info.status_detail
    assert info.live_attachers == 1 and info.shape == (4,)
    # The name given to another array: still this one's status, not the other's.
    run_python("import sys, ndshare; ndshare.zeros(2, name=sys.argv[1])", name)
    info = a.info()
    assert (info.path, info.status) == (None, "unlinked")
    assert info.status_detail is not None and "now names another array" in info.status_detail
    assert ndshare.info(name).shape == (2,) and ndshare.info(name).status == "stale"
    ndshare.unlink(name)
    # The end of a `with` block removes the name too.
    with ndshare.zeros(3, name=name) as b:
        assert b.info().status == "in use"
    assert (b.info().path, b.info().status) == (None, "unlinked")


def test_fork_child_registers_and_ends_cleanly(name: str) -> None:
    a = ndshare.zeros(8, name=name)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            live = sorted(x.pid for x in ndshare.info(name).attachers if x.alive)
            os.write(w, (" ".join(map(str, live)) + "\n").encode())
            del live
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        seen = f.read().split()
    os.waitpid(pid, 0)
    assert sorted(map(int, seen)) == sorted([os.getpid(), pid])
    # The child's slot is left by a dead process; the parent's is intact.
    info = ndshare.info(name)
    assert [(x.pid, x.alive) for x in info.attachers] == [(os.getpid(), True), (pid, False)]
    del a
    assert [(x.pid, x.alive) for x in ndshare.info(name).attachers] == [(pid, False)]


#: Attaches an array, then ends its main thread while another thread runs on.
MAIN_THREAD_ENDS_FIRST = """
import ctypes, os, sys, threading, ndshare
a = ndshare.attach(sys.argv[1])
threading.Thread(target=lambda: os._exit(len(sys.stdin.read()))).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""


def test_a_process_whose_main_thread_ended_is_alive_while_another_runs(name: str) -> None:
    a = ndshare.zeros(4, name=name)
    with subprocess.Popen(
        [sys.executable, "-c", MAIN_THREAD_ENDS_FIRST, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as p:
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline().strip() == "ready"
        # /proc shows the process as a zombie once its main thread has ended ...
        assert wait_until(lambda: is_gone(p.pid))
        # ... yet it still runs, and still maps the array.
        assert [x.alive for x in a.info().attachers if x.pid == p.pid] == [True]
        p.stdin.close()  # the other thread ends, and the process with it
        assert p.wait(60) == 0
    assert [x.alive for x in a.info().attachers if x.pid == p.pid] == [False]


#: Counts of this process's descriptors and mappings of ndshare memfds.
MEMFD_COUNTERS_IMPORT = r"""
import os
def fds():
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:ndshare")
        except OSError:
            pass  # the descriptor listdir itself used
    return n
def maps():
    with open("/proc/self/maps") as f:
        return sum("/memfd:ndshare" in line for line in f)
"""


def test_ten_thousand_anonymous_arrays_under_the_default_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 10_200:
        pytest.skip(f"the hard open-file limit is {hard}: 10,000 live arrays need 10,000 descriptors")
    code = (
        MEMFD_COUNTERS_IMPORT
        + r"""
import os, resource, ndshare
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
assert (fds(), maps()) == (0, 0)
arrays = [ndshare.full(3, i, dtype="i8") for i in range(10_000)]
assert all(int(a[2]) == i for i, a in enumerate(arrays))
during = (fds(), maps())
soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
del arrays
print(*during, soft > 1024, fds(), maps())
"""
    )
    out = run_python(code, timeout=240)
    fds_during, maps_during, raised, fds_after, maps_after = out.stdout.split()
    # One descriptor and one mapping per live array, no more.
    assert (int(fds_during), int(maps_during)) == (10_000, 10_000)
    assert raised == "True"  # the soft limit was raised when it was reached
    assert (int(fds_after), int(maps_after)) == (0, 0)  # nothing kept per dropped array


def test_dropped_arrays_keep_no_descriptor_or_mapping() -> None:
    code = (
        MEMFD_COUNTERS_IMPORT
        + r"""
import os, gc, pickle, ndshare
keep = ndshare.zeros(4)
for i in range(3000):
    a = ndshare.zeros(16)
    v = a[::2]
    with ndshare.by_reference():
        b = pickle.loads(pickle.dumps(v))  # same process: reuses the mapping
    assert b.segment is a.segment
    del a, v, b
ndshare._keepalive.release_pins()  # a reference keeps what it sent alive for a grace period
gc.collect()
print(fds(), maps())
"""
    )
    assert run_python(code).stdout.split() == ["1", "1"]
