"""docs/format.md is enough for C: examples/attach.c, written from it alone,
maps the arrays numpy makes, and refuses exactly the segments ndshare refuses.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import struct
import subprocess
from typing import Callable

import numpy as np
import pytest

import ndshare

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHM = pathlib.Path(ndshare._ndshare.SHM_DIR)


@pytest.fixture(scope="session")
def c_attach(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler installed")
    out = tmp_path_factory.mktemp("c") / "attach"
    subprocess.run(
        [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out), str(ROOT / "examples" / "attach.c")],
        check=True,
        timeout=120,
    )
    return out


def run_c(binary: pathlib.Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), name], capture_output=True, text=True, timeout=60)


def fields(stdout: str) -> dict[str, str]:
    return dict(line.split(" ", 1) if " " in line else (line, "") for line in stdout.splitlines())


@pytest.mark.parametrize(
    "dtype, shape, order",
    [("<f4", (3, 4, 5), "F"), ("<f8", (6, 7), "C"), ("<i8", (), "C"), ("|u1", (4, 0, 3), "C"), ("<i4", (1000,), "C")],
)
def test_c_reads_what_numpy_wrote(
    c_attach: pathlib.Path, name: str, dtype: str, shape: tuple[int, ...], order: str
) -> None:
    src = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape) * 3
    a = ndshare.array(src, order=order, name=name)
    r = run_c(c_attach, name)
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout)
    assert f["version"] == "1.3 state ready"
    assert f["dtype"] == dtype
    assert int(f["itemsize"]) == a.itemsize
    assert int(f["ndim"]) == a.ndim
    assert tuple(int(x) for x in f["shape"].split()) == a.shape
    assert tuple(int(x) for x in f["strides"].split()) == a.strides
    assert int(f["data_len"]) == a.nbytes
    assert f["data_aligned"] == "1"
    assert int(f["creator_pid"]) == os.getpid()
    assert float(f["sum"]) == float(src.astype(np.float64).sum())


def test_c_reads_a_descriptor_with_non_ascii_field_names(c_attach: pathlib.Path, name: str) -> None:
    dt = np.dtype([("température", "<f4"), ("ß", "<i2"), ("温度", "u1")])
    ndshare.zeros(3, dtype=dt, name=name)
    r = subprocess.run([str(c_attach), name], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout.decode("utf-8"))
    assert f["dtype"] == "[('température', '<f4'), ('ß', '<i2'), ('温度', '|u1')]"
    assert int(f["itemsize"]) == dt.itemsize == 7


def _u16(at: int, v: int) -> Callable[[bytearray], None]:
    return lambda b: b.__setitem__(slice(at, at + 2), struct.pack("<H", v))


def _u32(at: int, v: int) -> Callable[[bytearray], None]:
    return lambda b: b.__setitem__(slice(at, at + 4), struct.pack("<I", v))


def _u64(at: int, v: int) -> Callable[[bytearray], None]:
    return lambda b: b.__setitem__(slice(at, at + 8), struct.pack("<Q", v))


def _truncate(b: bytearray) -> None:
    del b[100:]


CORRUPTIONS: dict[str, tuple[Callable[[bytearray], None], str]] = {
    "magic": (lambda b: b.__setitem__(0, ord("X")), "bad magic"),
    "major version": (_u16(8, 2), "unsupported format version 2.3"),
    "unfinished": (_u32(12, 0), "never completed"),
    "header_len": (_u64(16, 4095), "bad header length"),
    "data_len": (_u64(24, 8 * 12 + 8), "do not add up"),
    "not named": (_u64(32, 0), "not marked as named"),
    "ndim": (_u32(40, 65), "too many dimensions"),
    "dtype_len": (_u32(44, 0), "bad dtype length"),
    "stride": (_u64(1280 + 16, 1 << 40), "outside the data"),
    "dtype bytes": (lambda b: b.__setitem__(1280 + 32, 7), "not printable"),
    "dtype not UTF-8": (lambda b: b.__setitem__(1280 + 32, 0xE9), "not printable UTF-8"),
    "dtype C1 control": (lambda b: b.__setitem__(slice(1280 + 33, 1280 + 35), b"\xc2\x85"), "not printable UTF-8"),
    "short file": (_truncate, "too short"),
}


@pytest.mark.parametrize("what", sorted(CORRUPTIONS))
def test_c_and_ndshare_refuse_the_same_segments(c_attach: pathlib.Path, name: str, what: str) -> None:
    ndshare.array(np.ones((3, 4)), name=name)
    good = bytearray((SHM / f"ndshare.{name}").read_bytes())
    corrupt, message = CORRUPTIONS[what]
    corrupt(good)
    bad = f"{name}-bad"
    path = SHM / f"ndshare.{bad}"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, bytes(good))
        os.close(fd)
        r = run_c(c_attach, bad)
        assert r.returncode == 3, r.stdout + r.stderr
        assert message in r.stderr
        with pytest.raises(ndshare.FormatError):
            ndshare.attach(bad)
    finally:
        path.unlink()


def test_c_refuses_a_ring(c_attach: pathlib.Path, name: str) -> None:
    """A reader of arrays, written from docs/format.md, refuses a ring's segment."""
    ndshare.Ring((2, 3), "f4", 4, name=name)
    r = run_c(c_attach, name)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "holds a ring" in r.stderr
