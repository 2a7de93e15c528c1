"""Large anonymous arrays on huge pages: where they land, how they travel,
that they never leak, and the ways back to a memfd."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import subprocess
import sys
from typing import Any, Dict, Optional

import numpy as np
import pytest
from _procfs import ShmemWatch, holders_of, wait_until

import ndshare

MIB = 1 << 20
BIG = 64 * MIB
HUGE = 2 * MIB
F_GET_SEALS = 1034


def userns_allowed() -> bool:
    """Whether this machine lets a process make a user namespace (the tests
    run as root in CI; huge pages need no root, but need this)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--user", "--mount", "true"], capture_output=True).returncode == 0


needs_userns = pytest.mark.skipif(not userns_allowed(), reason="user namespaces are not allowed here")


def pmd_mapped_kib(address: int) -> int:
    """ShmemPmdMapped + FilePmdMapped of this process's mapping that holds
    `address`: the part of it mapped with huge pages."""
    inside, total = False, 0
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head in ("ShmemPmdMapped:", "FilePmdMapped:"):
                total += int(line.split()[1])
    return total


def run(code: str, env: Optional[Dict[str, str]] = None, prefix: tuple[str, ...] = ()) -> str:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NDSHARE_HUGE")}
    full_env.update(env or {})
    out = subprocess.run(
        [*prefix, sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@needs_userns
def test_a_large_anonymous_array_lands_on_huge_pages() -> None:
    a = ndshare.zeros(BIG, dtype=np.uint8)
    info = a.info()
    assert (info.backing, info.page_size) == ("huge-tmpfs", HUGE)
    a[:] = 1  # fault every page in
    assert pmd_mapped_kib(a.ctypes.data) >= BIG // 1024 * 3 // 4
    # Not in /dev/shm, and reserved in full at creation.
    assert a.segment is not None
    dev, _ino = a.segment.file_id
    assert dev != os.stat("/dev/shm").st_dev
    st = os.fstat(a.segment.fd)
    assert st.st_nlink == 0 and st.st_blocks * 512 >= BIG


def test_a_small_array_stays_on_a_memfd() -> None:
    info = ndshare.zeros(MIB, dtype=np.uint8).info()
    assert (info.backing, info.page_size) == ("memfd", os.sysconf("SC_PAGE_SIZE"))


@pytest.mark.parametrize(
    "make",
    [
        lambda **k: ndshare.empty(BIG, np.uint8, **k),
        lambda **k: ndshare.zeros(BIG, np.uint8, **k),
        lambda **k: ndshare.ones(BIG, np.uint8, **k),
        lambda **k: ndshare.full(BIG, 3, np.uint8, **k),
        lambda **k: ndshare.array(np.zeros(BIG, np.uint8), **k),
        lambda **k: ndshare.empty_like(np.zeros(BIG, np.uint8), **k),
        lambda **k: ndshare.zeros_like(np.zeros(BIG, np.uint8), **k),
        lambda **k: ndshare.ones_like(np.zeros(BIG, np.uint8), **k),
        lambda **k: ndshare.full_like(np.zeros(BIG, np.uint8), 3, **k),
        lambda **k: ndshare.SharedArray(BIG, np.uint8, **k),
    ],
    ids=["empty", "zeros", "ones", "full", "array", "empty_like", "zeros_like", "ones_like", "full_like", "new"],
)
def test_huge_pages_false_gives_a_memfd(make: Any) -> None:
    a = make(huge_pages=False)
    assert a.info().backing == "memfd"
    assert a.segment is not None
    assert fcntl.fcntl(a.segment.fd, F_GET_SEALS) & 0x2  # F_SEAL_SHRINK
    if userns_allowed():
        assert make().info().backing == "huge-tmpfs"


def test_the_environment_turns_huge_pages_off() -> None:
    code = "import ndshare, numpy as np; print(ndshare.zeros(64 << 20, np.uint8).info().backing)"
    assert run(code, {"NDSHARE_HUGE_PAGES": "0"}) == "memfd"


def write_in_worker(a: Any, value: int) -> str:
    a[::4096] = value
    return str(a.info().backing)


@needs_userns
def test_it_travels_to_workers(ctx: mp.context.BaseContext) -> None:
    a = ndshare.zeros(BIG, dtype=np.uint8)
    with ctx.Pool(1) as pool:
        assert pool.apply(write_in_worker, (a[1:], 7)) == "huge-tmpfs"
    assert a[1] == 7 and a[1 + 4096 * 100] == 7 and a[2] == 0


@needs_userns
def test_another_process_opens_it_through_proc() -> None:
    a = ndshare.zeros(BIG, dtype=np.uint8)
    a[-1] = 5
    with ndshare.by_reference():
        ref = pickle.dumps(a)
    code = (
        "import pickle, sys\n"
        "b = pickle.loads(bytes.fromhex(sys.stdin.read()))\n"
        "assert b[-1] == 5\n"
        "b[0] = 9\n"
        "print(b.info().backing)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=ref.hex(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "huge-tmpfs"
    assert a[0] == 9


def hold(a: Any, ready: Any) -> None:
    a[::4096] = 1
    ready.set()
    signal.pause()


@needs_userns
def test_a_killed_worker_frees_nothing_early_and_all_comes_back() -> None:
    ctx = mp.get_context("spawn")
    a = ndshare.full(BIG, 3, dtype=np.uint8)
    assert a.info().backing == "huge-tmpfs"
    assert a.segment is not None
    fid, fd = a.segment.file_id, a.segment.fd
    ready = ctx.Event()
    p = ctx.Process(target=hold, args=(a, ready))
    p.start()
    try:
        assert ready.wait(60)
        assert p.pid in holders_of(fid)
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)
        assert p.exitcode == -signal.SIGKILL
        # Nothing freed: the memory is whole, with what the worker wrote.
        assert os.fstat(fd).st_blocks * 512 >= BIG
        assert a[0] == 1 and a[1] == 3 and a[-1] == 3
    finally:
        if p.is_alive():
            p.kill()
            p.join()
    with ShmemWatch() as watch:
        del a
        assert wait_until(lambda: not holders_of(fid)), holders_of(fid)
    assert watch.largest_drop() > BIG // 1024 // 2


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root to mount")
def test_a_directory_named_by_the_user_is_used_first(tmp_path: Any) -> None:
    d = tmp_path / "huge"
    d.mkdir()
    code = (
        "import os, ndshare, numpy as np\n"
        "a = ndshare.zeros(64 << 20, np.uint8)\n"
        "d = os.environ['NDSHARE_HUGE_DIR']\n"
        "assert a.segment.file_id[0] == os.stat(d).st_dev, 'not in the directory'\n"
        "assert os.listdir(d) == [], 'the file must have no name'\n"
        "print(a.info().backing)\n"
    )
    # A tmpfs with huge=always, mounted in a mount namespace of this test's
    # own: the machine's mounts do not change.
    script = f'mount -t tmpfs -o huge=always,size=256m ndshare-test "{d}" && exec "$0" "$@"'
    out = run(code, {"NDSHARE_HUGE_DIR": str(d)}, ("unshare", "--mount", "sh", "-c", script))
    assert out == "huge-tmpfs"


@needs_userns
def test_a_missing_user_directory_falls_back(tmp_path: Any) -> None:
    code = "import ndshare, numpy as np; print(ndshare.zeros(64 << 20, np.uint8).info().backing)"
    assert run(code, {"NDSHARE_HUGE_DIR": str(tmp_path / "absent")}) == "huge-tmpfs"


def test_without_user_namespaces_a_memfd() -> None:
    """A real system that forbids user namespaces: a user namespace whose own
    user.max_user_namespaces is 0, entered without capabilities."""
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs unshare(1) and setpriv(1)")
    script = (
        "echo 0 > /proc/sys/user/max_user_namespaces || exit 99; "
        'exec setpriv --bounding-set=-all --inh-caps=-all "$0" "$@"'
    )
    code = (
        "import fcntl, ndshare, numpy as np\n"
        "a = ndshare.zeros(64 << 20, np.uint8)\n"
        "assert fcntl.fcntl(a.segment.fd, 1034) & 0x2, 'not sealed'\n"
        "a[::4096] = 1\n"
        "print(a.info().backing, ndshare.zeros(64 << 20, np.uint8).info().backing)\n"
    )
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a user namespace to forbid them in")
    assert run(code, prefix=("unshare", "--user", "--map-root-user", "sh", "-c", script)) == "memfd memfd"
