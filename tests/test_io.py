"""ndshare.asarray, and .npy files read into shared memory (load) and written (save)."""

from __future__ import annotations

import doctest
import errno
import io
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
from _procfs import SHM_DIR

import ndshare

#: Arrays of the dtypes and layouts a .npy file holds.
SOURCES: List[Any] = [
    np.arange(24.0).reshape(2, 3, 4),
    np.asfortranarray(np.arange(12, dtype="i2").reshape(3, 4)),
    np.arange(20, dtype=">u4")[::2],  # big-endian, and not contiguous where it came from
    np.zeros((0, 3), dtype="c16"),
    np.array(5, dtype="f2"),
    np.array([(1, "ab", 2.5), (3, "cdé", -1)], dtype=[("a", "i4"), ("b", "U3"), ("c", "f8")]),
    np.array(["2024-01-01", "NaT"], dtype="M8[s]"),
    np.array([b"xy", b"z"], dtype="S2"),
    np.array([True, False, True]),
]


def _ids(x: Any) -> str:
    return f"{x.dtype.str}-{x.shape}"


def _same(a: Any, src: Any) -> None:
    assert type(a) is ndshare.SharedArray and a.segment is not None
    assert a.dtype == src.dtype and a.shape == src.shape
    np.testing.assert_array_equal(a, src)


# --- asarray -------------------------------------------------------------


def test_asarray_returns_a_fitting_shared_array_itself() -> None:
    a = ndshare.zeros((4, 6))
    assert ndshare.asarray(a) is a
    assert ndshare.asarray(a, dtype="f8", order="C") is a
    for view in (a[1:, ::2], a.T):  # any layout, as numpy.asarray: no copy
        assert ndshare.asarray(view) is view
        assert ndshare.asarray(view, order="K") is view and ndshare.asarray(view, order="A") is view
    assert ndshare.asarray(a.T, order="F") is not None and ndshare.asarray(a.T, order="F").base is a.T.base
    ro = a.view()
    ro.flags.writeable = False
    assert ndshare.asarray(ro) is ro
    f = ndshare.zeros((3, 2), order="F")
    assert ndshare.asarray(f, order="F") is f


def test_asarray_copies_what_does_not_fit() -> None:
    a = ndshare.array(np.arange(12.0).reshape(3, 4))
    for b, dtype, c_order in (
        (ndshare.asarray(a, dtype="f4"), np.float32, True),
        (ndshare.asarray(a, order="F"), np.float64, False),
        (ndshare.asarray(a[:, ::2], order="C"), np.float64, True),
        (ndshare.asarray(a.T, order="C"), np.float64, True),
    ):
        assert type(b) is ndshare.SharedArray and b.segment is not None
        assert b.dtype == dtype and bool(b.flags.c_contiguous) == c_order
        assert not np.shares_memory(b, a)
    np.testing.assert_array_equal(ndshare.asarray(a.T, order="C"), np.arange(12.0).reshape(3, 4).T)
    # Plain arrays, lists, scalars and results that decayed: new shared memory.
    plain = np.arange(6).reshape(2, 3)
    for x in (plain, [[0, 1, 2], [3, 4, 5]], a + 0):
        b = ndshare.asarray(x)
        assert type(b) is ndshare.SharedArray and b.segment is not None and not np.shares_memory(b, plain)
    assert ndshare.asarray(np.asfortranarray(plain)).flags.f_contiguous  # order=None keeps F
    assert ndshare.asarray(3.5).shape == ()
    with pytest.raises(TypeError, match="object"):
        ndshare.asarray(np.array([{}, None], dtype=object))
    with pytest.raises(ValueError, match="order must be"):
        ndshare.asarray(a, order="X")


class Tagged(ndshare.SharedArray):
    pass


def test_asarray_of_a_subclass_is_a_view_as_shared_array() -> None:
    a = ndshare.zeros(5)
    t = a.view(Tagged)
    b = ndshare.asarray(t)
    assert type(b) is ndshare.SharedArray and b.segment is a.segment and np.shares_memory(b, a)


def test_asarray_with_a_name(name: str) -> None:
    a = ndshare.zeros(4)
    b = ndshare.asarray(a, name=name)
    assert b is not a and b.name == name and not np.shares_memory(a, b)
    assert ndshare.asarray(b, name=name) is b  # its own name: no copy
    with pytest.raises(FileExistsError):
        ndshare.asarray(a, name=name)
    b[:] = 2.0
    out = subprocess.run(
        [sys.executable, "-c", f"import ndshare; print(ndshare.attach({name!r}).sum())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "8.0"


def _asarray_in_worker(x: Any) -> Any:
    b = ndshare.asarray(x)
    b[0] = -1.0
    return b is x


def test_asarray_in_another_process_writes_the_senders_memory(ctx: mp.context.BaseContext) -> None:
    a = ndshare.ones(8)
    with ctx.Pool(1) as pool:
        assert pool.apply(_asarray_in_worker, (a[2:],)) is True
    assert a[2] == -1.0 and a.sum() == 6.0


# --- load and save -------------------------------------------------------


@pytest.mark.parametrize("src", SOURCES, ids=_ids)
def test_load_what_numpy_saves(src: Any, tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, src)
    a = ndshare.load(path)
    _same(a, src)
    if src.flags.f_contiguous and not src.flags.c_contiguous:
        assert a.flags.f_contiguous and not a.flags.c_contiguous  # stays Fortran-ordered
    assert ndshare.load(str(path)).shape == src.shape  # a str path too
    with open(path, "rb") as f:  # and an open file
        _same(ndshare.load(f), src)
        assert f.read() == b""


@pytest.mark.parametrize("src", SOURCES, ids=_ids)
def test_save_then_load(src: Any, tmp_path: Path) -> None:
    shared = ndshare.array(src)
    path = tmp_path / "a.npy"
    ndshare.save(path, shared)
    back = ndshare.load(path)
    _same(back, src)
    assert not np.shares_memory(back, shared)
    _same(ndshare.array(np.load(path)), src)  # numpy reads it too


def test_save_views_and_plain_arrays(tmp_path: Path) -> None:
    a = ndshare.array(np.arange(30.0).reshape(5, 6))
    for i, x in enumerate((a.T, a[::2, 1:4], np.arange(3), [1.5, 2.5])):
        ndshare.save(tmp_path / f"{i}.npy", x)
        np.testing.assert_array_equal(ndshare.load(tmp_path / f"{i}.npy"), np.asarray(x))
    ndshare.save(tmp_path / "plain", a)  # as numpy.save: the suffix is added
    assert (tmp_path / "plain.npy").exists()
    buf = io.BytesIO()
    ndshare.save(buf, a)
    buf.seek(0)
    np.testing.assert_array_equal(ndshare.load(buf), a)
    with pytest.raises(TypeError, match="numpy.save"):
        ndshare.save(tmp_path / "o.npy", np.array([{}, 1], dtype=object))


def test_load_versions_2_and_3(tmp_path: Path) -> None:
    # Version 2.0, which numpy writes for headers over 64 KiB, written here by
    # numpy's own function for a small one; 3.0: field names outside latin-1.
    src2 = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    path = tmp_path / "v2.npy"
    with open(path, "wb") as f:
        header = {"descr": np.lib.format.dtype_to_descr(src2.dtype), "fortran_order": True, "shape": src2.shape}
        np.lib.format.write_array_header_2_0(f, header)
        f.write(src2.tobytes(order="F"))
    assert path.read_bytes()[6:8] == b"\x02\x00"
    a = ndshare.load(path)
    _same(a, src2)
    assert a.flags.f_contiguous
    # Version 3.0 as numpy writes it, for field names outside latin-1: they
    # are shared as they are.
    utf8 = np.array([(1, 2.0)], dtype=[("α", "i4"), ("日本", "f8")])
    with pytest.warns(UserWarning, match="format"):
        np.save(path, utf8)
    assert path.read_bytes()[6:8] == b"\x03\x00"
    loaded = ndshare.load(path)
    assert loaded.dtype == utf8.dtype and loaded.dtype.names == ("α", "日本")
    _same(loaded, utf8)
    src3 = np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")])
    header3 = repr({"descr": src3.dtype.descr, "fortran_order": False, "shape": (2,)}).encode() + b"\n"
    path.write_bytes(b"\x93NUMPY\x03\x00" + len(header3).to_bytes(4, "little") + header3 + src3.tobytes())
    _same(ndshare.load(path), src3)
    bad_headers = (
        b"{'descr': '<f8'}\n",
        b"[1, 2]\n",
        b"{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}\n",
        b"\xff\n",
    )
    for bad in bad_headers:
        path.write_bytes(b"\x93NUMPY\x03\x00" + len(bad).to_bytes(4, "little") + bad)
        with pytest.raises(ValueError, match="header"):
            ndshare.load(path)
    # As numpy.load: a header that long is refused unless allowed.
    wide = np.zeros(3, dtype=[(f"field_{i:05d}", "i1") for i in range(2000)])
    np.save(path, wide)
    with pytest.raises(ValueError, match="Header info length"):
        ndshare.load(path)
    _same(ndshare.load(path, max_header_size=100_000), wide)


def test_load_refuses_what_is_no_shareable_npy(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ndshare.load(tmp_path / "missing.npy")
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{}, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(TypeError, match="Python objects"):
        ndshare.load(objects)
    npz = tmp_path / "two.npz"
    np.savez(npz, a=np.zeros(3), b=np.ones(2))
    assert zipfile.is_zipfile(npz)
    with pytest.raises(ValueError, match="npz archive"):
        ndshare.load(npz)
    text = tmp_path / "text.npy"
    text.write_text("1 2 3\n")
    with pytest.raises(ValueError):
        ndshare.load(text)
    short = tmp_path / "short.npy"
    np.save(short, np.arange(1000.0))
    short.write_bytes(short.read_bytes()[:-8])
    with pytest.raises(ValueError, match="ends before its array's data: 7992 of 8000 bytes"):
        ndshare.load(short)


def test_failed_named_load_leaves_no_name(tmp_path: Path, name: str) -> None:
    short = tmp_path / "short.npy"
    np.save(short, np.arange(1000.0))
    short.write_bytes(short.read_bytes()[:-1])
    with pytest.raises(ValueError, match="ends before"):
        ndshare.load(short, name=name)
    assert not os.path.exists(f"{SHM_DIR}/ndshare.{name}")
    with pytest.raises(FileNotFoundError):
        ndshare.attach(name)
    np.save(short, np.arange(1000.0))
    a = ndshare.load(short, name=name)
    assert a.name == name and ndshare.attach(name).sum() == a.sum() == 499500.0


#: A process that loads a .npy file from a pipe into a named array, and
#: says when it is done.
LOADER = """
import sys, ndshare
a = ndshare.load(sys.argv[1], name=sys.argv[2])
print("loaded", a.shape, a.dtype, flush=True)
"""


def _unnamed_shm_files_of(pid: int) -> List[str]:
    """The unnamed /dev/shm files (``#<inode>``: a named array still being
    made) that process ``pid`` holds open."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{SHM_DIR}/#"):
            found.append(target)
    return found


def _writer_of(fifo: Path, proc: subprocess.Popen[str]) -> Any:
    """The write end of the pipe, once ``proc`` has opened it to read (if
    ``proc`` ends first, the test fails instead of waiting forever)."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            if proc.poll() is not None:
                pytest.fail(f"the loader ended ({proc.returncode}) without reading: {proc.communicate()}")
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return os.fdopen(fd, "wb")


@pytest.mark.parametrize("ending", ["finished", "killed"])
def test_named_load_appears_only_once_read(ending: str, tmp_path: Path, name: str) -> None:
    """The loader reads from a pipe: the test decides when its data ends, and
    checks that the name appears only after the last byte, and never if the
    loader is killed before."""
    src = np.arange(1 << 20, dtype="i8")  # 8 MiB
    buf = io.BytesIO()
    np.save(buf, src)
    blob = buf.getvalue()
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-c", LOADER, str(fifo), name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        with _writer_of(fifo, proc) as w:
            half = len(blob) // 2
            w.write(blob[:half])  # returns once the loader has read most of it (a pipe holds 64 KiB)
            w.flush()
            # The loader is reading into its array, which has no name yet.
            assert proc.poll() is None
            assert len(_unnamed_shm_files_of(proc.pid)) == 1
            assert not os.path.exists(f"{SHM_DIR}/ndshare.{name}")
            with pytest.raises(FileNotFoundError):
                ndshare.attach(name)
            if ending == "killed":
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(timeout=60) == -signal.SIGKILL
            else:
                w.write(blob[half:])
        if ending == "killed":
            assert not os.path.exists(f"{SHM_DIR}/ndshare.{name}")
            with pytest.raises(FileNotFoundError):
                ndshare.attach(name)
            assert ndshare.zeros(2, name=name).name == name  # the name is free
        else:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert out.strip() == "loaded (1048576,) int64"
            np.testing.assert_array_equal(ndshare.attach(name, readonly=True), src)
    finally:
        proc.kill()
        proc.communicate()


def _load_in_worker(path: str) -> Any:
    return ndshare.load(path)


def test_worker_loads_and_returns_the_shared_array(ctx: mp.context.BaseContext, tmp_path: Path) -> None:
    src = np.asfortranarray(np.arange(5000.0).reshape(50, 100))
    path = tmp_path / "a.npy"
    ndshare.save(path, src)
    with ctx.Pool(1) as pool:
        a = pool.apply(_load_in_worker, (str(path),))
    _same(a, src)
    assert a.flags.f_contiguous


def test_docstring_examples() -> None:
    import ndshare._io

    result = doctest.testmod(ndshare._io)
    assert result.failed == 0 and result.attempted >= 10
