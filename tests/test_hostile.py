"""Corrupt and hostile segments and references: each is a clear error or
harmless; none crashes the process that meets it."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from conftest import run_python

import ndshare
from ndshare import FormatError, SharedArray
from ndshare._array import _rebuild_located

# Field offsets of the header (crates/ndshare/src/header.rs `offset`, docs/format.md).
MAGIC, VERSION_MAJOR, STATE, DATA_LEN, NDIM, DTYPE_LEN, ITEMSIZE, SHAPE = 0, 8, 12, 24, 40, 44, 48, 1280


def shm_path(name: str) -> str:
    return os.path.join("/dev/shm", "ndshare." + name)


def patch(name: str, at: int, data: bytes) -> None:
    fd = os.open(shm_path(name), os.O_RDWR)
    try:
        assert os.pwrite(fd, data, at) == len(data)
    finally:
        os.close(fd)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def i64(v: int) -> bytes:
    return struct.pack("<q", v)


def test_truncated_by_another_process_reads_zeros_instead_of_sigbus(name: str) -> None:
    a = ndshare.full((8, 4096), 7, dtype="u1", name=name)
    b = ndshare.attach(name, readonly=True)
    header_len = a.info().header_bytes
    assert int(b.sum()) == 7 * 8 * 4096
    # Another process, with write permission on the file, cuts it to one data page.
    run_python("import os, sys; os.truncate(sys.argv[1], int(sys.argv[2]))", shm_path(name), str(header_len + 4096))
    assert b[0].tolist() == [7] * 4096, "the page still in the file is intact"
    assert int(b[1:].sum()) == 0 and int(a[1:].sum()) == 0, "pages cut off read as zeros"
    a[5, 5] = 9  # a write past the end: harmless, private to this process
    assert int(a.sum()) == 7 * 4096 + 9
    assert int(b[5, 5]) == 0
    # A new attacher is refused with the reason, not mapped.
    with pytest.raises(FormatError, match="segment has"):
        ndshare.attach(name)


def test_an_anonymous_array_cannot_be_shrunk_by_another_holder() -> None:
    a = ndshare.full(3 * 4096, 5, dtype="u1")
    code = (
        "import os, sys\n"
        "fd = os.open(f'/proc/{sys.argv[1]}/fd/{sys.argv[2]}', os.O_RDWR)\n"
        "try:\n    os.ftruncate(fd, 4096)\nexcept OSError as e:\n    print(e.errno)\n"
    )
    out = run_python(code, str(os.getpid()), str(a.segment.fd))
    assert out.stdout.split() == ["1"], out  # EPERM: the memfd is sealed against shrinking
    assert int(a.sum()) == 5 * 3 * 4096


@pytest.mark.parametrize(
    "what, at, data, message",
    [
        ("shape past the end", SHAPE, u64(1000), "reach bytes"),
        ("stride past the end", SHAPE + 8, i64(1 << 40), "reach bytes"),
        ("negative stride", SHAPE + 8, i64(-8), "reach bytes"),
        ("data length", DATA_LEN, u64(1 << 62), "segment has"),
        ("too many dimensions", NDIM, u32(65), "ndim 65"),
        ("huge dtype length", DTYPE_LEN, u32(0xFFFFFFFF), "dtype descriptor length"),
        ("bad magic", MAGIC, b"NUMPY\0\0\0", "bad magic"),
        ("unfinished header", STATE, u32(0), "never completed"),
        ("future major version", VERSION_MAJOR, struct.pack("<H", 2), "version 2"),
        ("dtype lying about itemsize", SHAPE + 16, b"<f4", "itemsize 4, but its header says 8"),
        ("object dtype", SHAPE + 16, b"|O8", "Python objects"),
        ("non-ASCII dtype", SHAPE + 16, b"<\xe9\x00", "printable ASCII|UTF-8"),
        ("dtype that is not one", SHAPE + 16, b"<x9", "not valid"),
    ],
)
def test_corrupt_header_is_a_format_error(name: str, what: str, at: int, data: bytes, message: str) -> None:
    a = ndshare.array(np.arange(16.0), name=name)  # 1-d '<f8': descr at SHAPE + 16
    patch(name, at, data)
    with pytest.raises(FormatError, match=message):
        ndshare.attach(name)
    info = {i.name: i for i in ndshare.list()}[name]
    if at != SHAPE + 16:  # the dtype itself is checked in Python, not by the core's list
        assert info.error is not None and info.shape is None
    assert a.sum() == 120.0, "the creator's view is untouched"


def test_item_size_that_disagrees_with_the_dtype(name: str) -> None:
    ndshare.zeros(8, dtype="f8", name=name)
    # A consistent layout of 4 items of 16 bytes, but the dtype is still '<f8'.
    patch(name, ITEMSIZE, u64(16))
    patch(name, SHAPE, u64(4) + i64(16))
    with pytest.raises(FormatError, match="itemsize 8, but its header says 16"):
        ndshare.attach(name)


def test_header_rewritten_while_attached_changes_no_view(name: str) -> None:
    a = ndshare.array(np.arange(6.0).reshape(2, 3), name=name)
    b = ndshare.attach(name)
    patch(name, SHAPE, u64(3) + u64(2) + i64(16) + i64(8))  # 3 x 2: consistent, but not what was made
    assert a.shape == b.shape == (2, 3) and b.segment.shape == (2, 3)
    assert b.info().shape == (2, 3), "parsed once, from a private copy"
    assert ndshare.attach(name).shape == (3, 2), "a new attacher reads the new header"
    np.testing.assert_array_equal(b, np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize(
    "offset, shape, strides",
    [(80, (1,), (8,)), (0, (2,), (-8,)), (0, (10,), (16,)), (0, (11,), (8,)), (-8, (1,), (8,)), (0, (3,), (1 << 62,))],
)
def test_reference_reaching_outside_is_refused(offset: int, shape: tuple, strides: tuple) -> None:
    a = ndshare.zeros(10)  # 80 bytes
    seg = a.segment
    locator = (seg.file_id, None, os.getpid(), seg.fd, False)
    ok = _rebuild_located(locator, 72, (1,), (8,), np.dtype("f8"), False)
    assert type(ok) is SharedArray and np.shares_memory(ok, a)
    with pytest.raises(ValueError, match="strides is incompatible"):
        _rebuild_located(locator, offset, shape, strides, np.dtype("f8"), False)


def test_reference_with_object_dtype_is_refused() -> None:
    a = ndshare.full(4, 0x41414141, dtype="u8")
    seg = a.segment
    locator = (seg.file_id, None, os.getpid(), seg.fd, False)
    for dt in (np.dtype(object), np.dtype([("p", object)])):
        with pytest.raises(TypeError, match="Python objects"):
            _rebuild_located(locator, 0, (1,), (8,), dt, False)


def test_reference_to_another_file_is_refused() -> None:
    a = ndshare.zeros(4)
    b = ndshare.zeros(4)
    seg = b.segment
    # The right fd and pid, but the (dev, ino) of another array: a descriptor
    # number reused for another file must not be mapped in its place.
    locator = ((a.segment.file_id[0], a.segment.file_id[1] + 10**9), None, os.getpid(), seg.fd, False)
    with pytest.raises(FileNotFoundError, match="cannot reach"):
        _rebuild_located(locator, 0, (4,), (8,), np.dtype("f8"), False)


def test_symlink_under_an_ndshare_name_is_not_followed(name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = ndshare.zeros(4, name=name + "-target")
    try:
        os.symlink(shm_path(name + "-target"), shm_path(name))
        with pytest.raises(OSError) as e:
            ndshare.attach(name)
        assert e.value.errno == 40  # ELOOP: O_NOFOLLOW
        with pytest.raises(FileExistsError):
            ndshare.zeros(4, name=name)  # never created over, nor through, the link
        assert os.path.islink(shm_path(name))
    finally:
        ndshare.unlink(name + "-target")
    del target


def test_fifo_under_an_ndshare_name_does_not_hang(name: str) -> None:
    os.mkfifo(shm_path(name), 0o444)
    code = (
        "import sys, ndshare\n"
        "try:\n    ndshare.attach(sys.argv[1], readonly=True)\nexcept ndshare.FormatError as e:\n    print('refused:', e)\n"
        "print([i.error for i in ndshare.list() if i.name == sys.argv[1]])\n"
    )
    out = run_python(code, name, timeout=60)
    assert "refused: corrupt segment: not a regular file" in out.stdout, out
    assert "not a regular file" in out.stdout.splitlines()[-1], out
    os.unlink(shm_path(name))
