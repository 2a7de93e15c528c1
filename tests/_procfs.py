"""What the machine says about memory and processes: /proc and /dev/shm.

Machine-wide numbers (Shmem) move with whatever else runs on the machine;
the per-file evidence here (which processes hold a given inode open or
mapped) does not."""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, List, Optional, Set, Tuple

SHM_DIR = "/dev/shm"


def shmem_kib() -> int:
    """Shmem of /proc/meminfo: every memfd and tmpfs page of the machine."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1])
    raise RuntimeError("no Shmem in /proc/meminfo")


def shm_free_bytes() -> int:
    """Space left in /dev/shm, where named arrays live (64 MiB in all in a
    default Docker container)."""
    st = os.statvfs("/dev/shm")
    return st.f_bavail * st.f_frsize


def wait_until(pred: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Polls `pred` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def holders_of(file_id: Tuple[int, int]) -> Set[int]:
    """Every process that has the file (dev, ino) open or mapped."""
    dev, ino = file_id
    maps_dev = f"{os.major(dev):02x}:{os.minor(dev):02x}"
    out: Set[int] = set()
    for pid in _pids():
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) == (dev, ino):
                    out.add(pid)
                    break
            if pid in out:
                continue
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) >= 5 and parts[4] == str(ino) and parts[3] == maps_dev:
                        out.add(pid)
                        break
        except OSError:
            continue  # the process went away meanwhile
    return out


def is_gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie has: it holds no memory)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def threads_of(pid: int) -> List[int]:
    """The thread ids of process `pid`."""
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


def thread_name(pid: int, tid: int) -> str:
    """The name the kernel shows for a thread (`comm`)."""
    with open(f"/proc/{pid}/task/{tid}/comm") as f:
        return f.read().strip()


def voluntary_switches(pid: int, tid: int) -> int:
    """How many times thread `tid` of `pid` went to sleep of its own accord
    (/proc/<pid>/task/<tid>/status): a sleeper that wakes and sleeps again
    adds one each time."""
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise RuntimeError(f"no voluntary_ctxt_switches for thread {tid} of {pid}")


def blocked_in(pid: int, tid: int) -> Optional[int]:
    """The number of the system call thread `tid` of `pid` sleeps in
    (/proc/<pid>/task/<tid>/syscall), or None while it runs."""
    with open(f"/proc/{pid}/task/{tid}/syscall") as f:
        first = f.read().split()[0]
    return int(first) if first.isdigit() else None


def start_ticks(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2 :].split()[22 - 3])


def shm_names() -> Set[str]:
    """The ndshare names in /dev/shm."""
    return {n[len("ndshare.") :] for n in os.listdir(SHM_DIR) if n.startswith("ndshare.")}


class ShmemWatch:
    """Samples Shmem every few milliseconds while a block runs, to see a
    release as a drop: other programs on the machine move Shmem too, but
    seldom by as much within the same second, while a level compared with a
    baseline taken earlier is at the mercy of whatever they hold meanwhile."""

    def __init__(self, period: float = 0.002) -> None:
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), shmem_kib()))
            time.sleep(self.period)

    def __enter__(self) -> ShmemWatch:
        self.samples.append((time.monotonic(), shmem_kib()))  # before anything is released
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # the last pages may be freed just after
        self._stop.set()
        self._thread.join()

    def largest_drop(self, window: float = 1.0) -> int:
        """The largest fall of Shmem, in KiB, within `window` seconds."""
        best = 0
        for j, (tj, sj) in enumerate(self.samples):
            for ti, si in reversed(self.samples[:j]):
                if tj - ti > window:
                    break
                best = max(best, si - sj)
        return best
