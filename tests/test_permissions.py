"""Who may reach a shared array: file modes, a second user, names."""

from __future__ import annotations

import json
import os
import pickle
import stat

import numpy as np
import pytest
from conftest import run_python

import ndshare

NOBODY = 65534

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching to a second uid (nobody) needs root; run the suite as root to cover it"
)


def mode_of(name: str) -> int:
    return stat.S_IMODE(os.stat(f"/dev/shm/ndshare.{name}").st_mode)


def test_named_arrays_are_0600_by_default_whatever_the_umask(name: str) -> None:
    old = os.umask(0)
    try:
        ndshare.zeros(3, name=name)
    finally:
        os.umask(old)
    assert mode_of(name) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o666, 0o400])
def test_mode_is_applied_exactly(name: str, mode: int) -> None:
    old = os.umask(0o077)  # the umask does not narrow an explicit mode
    try:
        ndshare.zeros(3, name=name, mode=mode)
    finally:
        os.umask(old)
    assert mode_of(name) == mode


@pytest.mark.parametrize("mode", [-1, 0o1000, 0o4755, "0644", 1.5])
def test_bad_modes_are_refused(name: str, mode: object) -> None:
    with pytest.raises(ValueError, match="mode"):
        ndshare.zeros(3, name=name, mode=mode)  # type: ignore[arg-type]
    assert not os.path.exists(f"/dev/shm/ndshare.{name}")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../etc/passwd",
        "a/b",
        "/abs",
        ".",
        "..",
        ".hidden",
        "sp ace",
        "nul\0",
        "tab\t",
        "é",
        "x" * 248,
        "a*",
        "$(id)",
    ],
)
def test_names_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid name"):
        ndshare.zeros(1, name=bad)
    with pytest.raises(ValueError, match="invalid name"):
        ndshare.attach(bad)
    with pytest.raises(ValueError, match="invalid name"):
        ndshare.unlink(bad)


def test_an_existing_name_is_never_replaced(name: str) -> None:
    a = ndshare.full(3, 5.0, name=name)
    with pytest.raises(FileExistsError):
        ndshare.zeros(3, name=name)
    np.testing.assert_array_equal(ndshare.attach(name), [5.0, 5.0, 5.0])
    del a


def test_anonymous_arrays_have_no_name_anywhere() -> None:
    """The library makes up no names: an anonymous array is a memfd, which no
    path reaches but /proc/<pid>/fd of a process that holds it."""
    a = ndshare.zeros(3)
    assert a.name is None and a.segment.name is None
    link = os.readlink(f"/proc/self/fd/{a.segment.fd}")
    assert link == "/memfd:ndshare (deleted)", link


# A child that drops to uid/gid nobody after importing everything it needs
# (the interpreter's own files may not be readable by nobody), then reports
# what it could do as JSON.
AS_NOBODY = """
import json, os, pickle, sys
import numpy as np, ndshare
from ndshare import _arrive, _array, _reduce
args = json.loads(sys.argv[1])
os.setgroups([]); os.setgid(%d); os.setuid(%d)
out = {}
def attempt(key, f):
    try:
        out[key] = ["ok", f()]
    except Exception as e:
        out[key] = [type(e).__name__, str(e)]
n = args["names"]
attempt("private_rw", lambda: ndshare.attach(n["private"]).tolist())
attempt("private_ro", lambda: ndshare.attach(n["private"], readonly=True).tolist())
attempt("private_unlink", lambda: ndshare.unlink(n["private"]))
attempt("private_create", lambda: ndshare.zeros(1, name=n["private"]).tolist())
attempt("readable_ro", lambda: ndshare.attach(n["readable"], readonly=True).tolist())
attempt("readable_rw", lambda: ndshare.attach(n["readable"]).tolist())
def write_shared():
    a = ndshare.attach(n["shared"])
    a[0] = 42
    return a.tolist()
attempt("shared_rw", write_shared)
attempt("anonymous", lambda: pickle.loads(bytes.fromhex(args["anonymous"])).tolist())
attempt("fifo_ro", lambda: ndshare.attach(n["fifo"], readonly=True).tolist())
listed = {i.name: i.error for i in ndshare.list()}
out["listed_private"] = listed.get(n["private"])
out["listed_fifo"] = listed.get(n["fifo"])
print(json.dumps(out))
""" % (NOBODY, NOBODY)


@needs_root
def test_another_user(name: str) -> None:
    names = {k: f"{name}-{k}" for k in ("private", "readable", "shared", "fifo")}
    private = ndshare.full(2, 1.0, name=names["private"])
    readable = ndshare.full(2, 2.0, name=names["readable"], mode=0o644)
    shared = ndshare.full(2, 3.0, name=names["shared"], mode=0o666)
    anonymous = ndshare.full(2, 4.0)
    fifo = f"/dev/shm/ndshare.{names['fifo']}"
    os.mkfifo(fifo, 0o444)
    try:
        with ndshare.by_reference():
            args = {"names": names, "anonymous": pickle.dumps(anonymous).hex()}
        out = json.loads(run_python(AS_NOBODY, json.dumps(args), timeout=60).stdout)
    finally:
        os.unlink(fifo)
        for k in ("private", "readable", "shared"):
            ndshare.unlink(names[k])
    assert out["private_rw"][0] == "PermissionError", out
    assert out["private_ro"][0] == "PermissionError", out
    assert out["private_unlink"][0] == "PermissionError", out  # /dev/shm is sticky
    assert out["private_create"][0] == "FileExistsError", out
    assert out["readable_ro"] == ["ok", [2.0, 2.0]], out
    assert out["readable_rw"][0] == "PermissionError", out
    assert out["shared_rw"] == ["ok", [42.0, 3.0]], out
    assert shared[0] == 42.0, "the other user's write is seen: the same memory"
    # ndshare.UnreachableError, a FileNotFoundError, saying why.
    assert out["anonymous"][0] == "UnreachableError" and "same user" in out["anonymous"][1], out
    assert "permission denied" in out["anonymous"][1], out
    assert out["fifo_ro"][0] == "FormatError" and "not a regular file" in out["fifo_ro"][1], out
    assert "permission denied" in out["listed_private"], out
    assert "not a regular file" in out["listed_fifo"], out
    assert private.tolist() == [1.0, 1.0] and readable.tolist() == [2.0, 2.0]
