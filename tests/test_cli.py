"""The `ndshare` command, run as users run it: the console script installed
with the package, `python -m ndshare`, and the standalone binary."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Iterator, List, Sequence

import numpy as np
import pytest
from _procfs import shm_names, start_ticks

import ndshare

SCRIPT = str(Path(sys.executable).with_name("ndshare"))
BINARY = Path(__file__).resolve().parents[1] / "target" / "release" / "ndshare"
HEADING = ["NAME", "DTYPE", "SHAPE", "DATA", "FILE", "CREATED", "CREATOR", "ALIVE", "ATTACHERS", "STATUS"]


def ndshare_cmd(*args: str, cmd: Sequence[str] = (SCRIPT,)) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A name prefix of this test's own: `gc --prefix` then touches nothing
    of other programs running on the machine. Everything left is unlinked."""
    p = f"cli-{uuid.uuid4().hex[:10]}-"
    yield p
    for n in shm_names():
        if n.startswith(p):
            try:
                ndshare.unlink(n)
            except FileNotFoundError:
                pass


def run_python_bytes(code: str) -> bytes:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60).stdout


def row_of(stdout: str, name: str) -> List[str]:
    lines = stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == HEADING
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:] if line.split()[0] == name]
    assert len(rows) == 1, stdout
    return rows[0]


class Holder:
    """A separate Python process that runs `code` with ndshare, then on
    request `then` (see `ask`), and holds what it made until it is killed."""

    def __init__(self, code: str, then: str = "") -> None:
        script = (
            f"import sys, ndshare\n{code}\nprint('ready', flush=True)\nsys.stdin.readline()\n{then}\nsys.stdin.read()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "ready\n"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ask(self) -> str:
        """Runs `then`; returns the line it printed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()


@pytest.fixture
def holders() -> Iterator[List[Holder]]:
    started: List[Holder] = []
    yield started
    for h in started:
        if h.proc.poll() is None:
            h.kill()


def test_list_shows_each_array(prefix: str) -> None:
    name = prefix + "table"
    a = ndshare.zeros((3, 4), dtype="<f8", name=name)
    info = ndshare.info(name)
    out = ndshare_cmd("list")
    assert out.returncode == 0 and out.stderr == ""
    created = info.created.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]
    assert row_of(out.stdout, name) == [
        name,
        "<f8",
        "(3, 4)",
        "96 B",
        "4.1 KiB",
        created,
        str(os.getpid()),
        "yes",
        "1",
        "in use",
    ]
    big = ndshare.zeros((1024, 1024, 3), dtype="u2", order="F", name=prefix + "big")
    assert row_of(ndshare_cmd("ls").stdout, prefix + "big")[1:5] == ["<u2", "(1024, 1024, 3)", "6.0 MiB", "6.0 MiB"]
    del a, big
    assert row_of(ndshare_cmd("list").stdout, name)[-2:] == ["0", "creator alive"]


def test_list_json_matches_info_json(prefix: str) -> None:
    name = prefix + "json"
    a = ndshare.zeros(5, dtype="i4", name=name)
    listed = [e for e in json.loads(ndshare_cmd("list", "--json").stdout) if e["name"] == name]
    out = ndshare_cmd("info", name, "--json")
    assert out.returncode == 0
    single = json.loads(out.stdout)
    assert listed == [single]
    me = os.getpid()
    assert single["creator"] == {"pid": me, "start_ticks": start_ticks(me), "alive": True}
    assert single["attachers"] == [
        {"slot": 0, "pid": me, "start_ticks": start_ticks(me), "alive": True, "claiming": False, "kept": False}
    ]
    assert (single["shape"], single["dtype"], single["nbytes"], single["size"]) == ([5], "<i4", 20, "20 B")
    assert (single["mode"], single["status"], single["stale"], single["live_attachers"]) == ("0600", "in use", False, 1)
    assert single["path"] == f"/dev/shm/ndshare.{name}"
    del a


def test_info_text(prefix: str, holders: List[Holder]) -> None:
    name = prefix + "text"
    h = Holder(f"a = ndshare.zeros((2, 3), dtype='f4', order='F', name={name!r})")
    holders.append(h)
    b = ndshare.attach(name)
    out = ndshare_cmd("info", name)
    assert out.returncode == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines if not line.startswith(" "))
    assert fields["name"] == name
    assert fields["path"] == f"/dev/shm/ndshare.{name}"
    assert fields["status"] == "in use by 2 live processes"
    assert fields["dtype"] == "<f4 (4 bytes per item)"
    assert fields["shape"] == "(2, 3)"
    assert fields["strides"] == "(4, 8) (F order)"
    assert fields["data"] == "24 B (24 bytes)"
    assert fields["file"] == "4.0 KiB (4120 bytes: a 4096-byte header, then the data)"
    assert fields["format"] == "1.3"
    assert fields["mode"] == f"0600, owner uid {os.getuid()}"
    assert re.fullmatch(rf"\S+Z by pid {h.pid} \(started at tick {start_ticks(h.pid)}, alive\)", fields["created"])
    assert fields["attachers"] == "2 live processes"
    table = [line.split() for line in lines if line.startswith("  ")]
    assert table == [
        ["slot", "pid", "start", "tick", "alive"],
        ["0", str(h.pid), str(start_ticks(h.pid)), "yes"],
        ["1", str(os.getpid()), str(start_ticks(os.getpid())), "yes"],
    ]
    h_ticks = start_ticks(h.pid)
    h.kill()
    out = ndshare_cmd("info", name)
    assert "status          in use by 1 live process\n" in out.stdout
    assert "attachers       1 live process, 1 slot left by processes now dead\n" in out.stdout
    assert [line.split() for line in out.stdout.splitlines() if line.startswith("  ")][1:] == [
        ["0", str(h.pid), str(h_ticks), "no"],
        ["1", str(os.getpid()), str(start_ticks(os.getpid())), "yes"],
    ]
    del b
    out = ndshare_cmd("info", name)
    assert "status          stale: its creator is dead and no live process maps it\n" in out.stdout


def test_errors_are_one_line_with_exit_codes(prefix: str) -> None:
    missing = prefix + "missing"
    for args, code, message in [
        (
            ["info", missing],
            1,
            f'ndshare: no shared array named "{missing}" (see `ndshare list` for the named arrays)\n',
        ),
        (["info", "a/b"], 1, "ndshare: invalid name \"a/b\": a name cannot contain '/'\n"),
        (["rm", missing], 1, f'ndshare: no shared array named "{missing}" (see `ndshare list` for the named arrays)\n'),
    ]:
        out = ndshare_cmd(*args)
        assert (out.returncode, out.stdout, out.stderr) == (code, "", message), args
    corrupt = prefix + "corrupt"
    Path(f"/dev/shm/ndshare.{corrupt}").write_bytes(b"not a segment" * 400)
    out = ndshare_cmd("info", corrupt)
    assert out.returncode == 1 and "status          unusable: corrupt segment: not an" in out.stdout
    assert out.stderr == "ndshare: corrupt segment: not an ndshare segment (bad magic)\n"
    assert row_of(ndshare_cmd("list").stdout, corrupt)[1:] == ["?"] * 8 + [
        "unusable: corrupt segment: not an ndshare segment (bad magic)"
    ]
    # Usage errors: exit code 2, clap's message on stderr.
    for args in (["frobnicate"], ["rm"], ["info"], ["gc", "--bogus"], []):
        out = ndshare_cmd(*args)
        assert out.returncode == 2 and out.stdout == "" and "Usage: ndshare" in out.stderr, args
    out = ndshare_cmd("--version")
    assert (out.returncode, out.stdout) == (0, f"ndshare {ndshare.__version__}\n")
    assert ndshare_cmd("--help").returncode == 0


def test_entries_that_attach_refuses_are_flagged_unusable(prefix: str) -> None:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is built by `make build`")
    names = {k: prefix + k for k in ("anonymous", "truncated", "corrupt", "fifo")}
    paths = {k: Path(f"/dev/shm/ndshare.{n}") for k, n in names.items()}
    # anonymous: the bytes of an anonymous array, made by another process,
    # planted under a name: its header lacks the named flag.
    anonymous = run_python_bytes(
        "import os, sys, ndshare\na = ndshare.full(4, 3.0)\n"
        "sys.stdout.buffer.write(open(f'/proc/self/fd/{a.segment.fd}', 'rb').read())\n"
    )
    paths["anonymous"].write_bytes(anonymous)
    # truncated: a named array's bytes, cut short by a page.
    good = ndshare.zeros(2048, name=names["truncated"])
    data = paths["truncated"].read_bytes()
    ndshare.unlink(names["truncated"])
    del good
    paths["truncated"].write_bytes(data[:-4096])
    paths["corrupt"].write_bytes(b"not a segment" * 400)
    os.mkfifo(paths["fifo"], 0o600)
    reasons = {
        "anonymous": "holds a segment not marked as named",
        "truncated": "segment has",
        "corrupt": "corrupt segment: not an ndshare segment (bad magic)",
        "fifo": "corrupt segment: not a regular file (a FIFO, socket or device)",
    }
    listed = {i.name: i for i in ndshare.list()}
    as_json = {e["name"]: e for e in json.loads(ndshare_cmd("list", "--json", cmd=[str(BINARY)]).stdout)}
    table = ndshare_cmd("list", cmd=[str(BINARY)]).stdout
    for k, n in names.items():
        with pytest.raises(ndshare.FormatError) as refused:
            ndshare.attach(n)
        reason = str(refused.value)
        assert reasons[k] in reason, (k, reason)
        for info in (listed[n], ndshare.info(n)):
            assert (info.status, info.reason, info.usable, info.stale) == ("unusable", reason, False, False), k
        assert (as_json[n]["status"], as_json[n]["reason"]) == ("unusable", reason), k
        assert row_of(table, n)[-1] == f"unusable: {reason}", k
        out = ndshare_cmd("info", n, "--json", cmd=[str(BINARY)])
        assert (out.returncode, out.stderr) == (1, f"ndshare: {reason}\n"), k
        assert json.loads(out.stdout) == as_json[n], k
        out = ndshare_cmd("info", n, cmd=[str(BINARY)])
        assert out.returncode == 1 and f"status          unusable: {reason}\n" in out.stdout, k
    # What the anonymous array's header says is still shown.
    assert (listed[names["anonymous"]].shape, as_json[names["anonymous"]]["named"]) == ((4,), False)
    usable = ndshare.zeros(1, name=prefix + "usable")
    assert ndshare.info(prefix + "usable").usable and ndshare.info(prefix + "usable").reason is None
    # gc keeps them all, as every entry it cannot vouch for.
    out = ndshare_cmd("gc", "--prefix", prefix, cmd=[str(BINARY)])
    assert out.stdout == "gc: removed 0 named arrays (0 B of data, 0 B file), kept 5\n"
    assert set(names.values()) <= shm_names()
    del usable


def test_rm(prefix: str, holders: List[Holder]) -> None:
    held, free, missing = prefix + "held", prefix + "free", prefix + "missing"
    h = Holder(f"a = ndshare.full(4, 9.0, name={held!r})", then="print(a.sum(), flush=True)")
    holders.append(h)
    ndshare.zeros(1, name=free)  # dropped at once: nobody maps it
    out = ndshare_cmd("rm", held, missing, free)
    assert out.returncode == 1
    assert out.stdout == (
        f"removed {held} (still mapped by 1 live process: its memory goes when they unmap it)\nremoved {free}\n"
    )
    assert out.stderr == f'ndshare: no shared array named "{missing}" (see `ndshare list` for the named arrays)\n'
    assert not {held, free} & shm_names()
    assert h.ask() == "36.0\n"  # the holder keeps its memory
    out = ndshare_cmd("rm", "-f", missing)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_gc_removes_only_what_nobody_can_miss(prefix: str, holders: List[Holder]) -> None:
    me = os.getpid()
    names = {k: prefix + k for k in ("live", "orphan", "dead", "idle", "reused", "readable", "corrupt", "old")}
    # live: created and held by this process.
    live = ndshare.zeros(8, name=names["live"])
    # orphan: its creator was killed, but a live process attached it.
    creator = Holder(f"a = ndshare.zeros(1024, name={names['orphan']!r})")
    holders.append(creator)
    attacher = Holder(f"a = ndshare.attach({names['orphan']!r})", then="print(a.shape, flush=True)")
    holders.append(attacher)
    creator.kill()
    # dead: creator and attacher both killed.
    c2 = Holder(f"a = ndshare.zeros(2048, name={names['dead']!r})")
    a2 = Holder(f"a = ndshare.attach({names['dead']!r})")
    holders += [c2, a2]
    c2.kill()
    a2.kill()
    # idle: nobody maps it, but its creator (this process) lives.
    ndshare.zeros(1, name=names["idle"])
    # reused: header names this live pid with another start time, as if the
    # creator died and its pid went to this process; a slot says the same.
    ndshare.zeros(1, name=names["reused"])
    with open(f"/dev/shm/ndshare.{names['reused']}", "r+b") as f:
        f.seek(72)  # creator start ticks
        f.write((start_ticks(me) + 1).to_bytes(8, "little"))
        f.seek(256 + 16 * 3)  # attacher slot 3: pid, seq, start ticks
        f.write(me.to_bytes(4, "little") + (2).to_bytes(4, "little") + (start_ticks(me) + 1).to_bytes(8, "little"))
    # readable: dead, but others may read it without registering (mode 0644).
    c3 = Holder(f"a = ndshare.zeros(1, name={names['readable']!r}, mode=0o644)")
    holders.append(c3)
    c3.kill()
    # corrupt: not a segment at all.
    Path(f"/dev/shm/ndshare.{names['corrupt']}").write_bytes(b"\0" * 8192)
    # old: dead, but written by format 1.0, which kept no attacher table.
    c4 = Holder(f"a = ndshare.zeros(1, name={names['old']!r})")
    holders.append(c4)
    c4.kill()
    with open(f"/dev/shm/ndshare.{names['old']}", "r+b") as f:
        f.seek(10)
        f.write((0).to_bytes(2, "little"))

    expected = {
        "live": "in use",
        "orphan": "in use",
        "dead": "stale",
        "idle": "creator alive",
        "reused": "stale",
        "readable": "unverifiable",
        "corrupt": "unusable",
        "old": "unverifiable",
    }
    assert {k: ndshare.info(n).status for k, n in names.items()} == expected

    dry = ndshare_cmd("gc", "--dry-run", "--prefix", prefix)
    assert dry.returncode == 0 and dry.stderr == ""
    assert dry.stdout.splitlines() == [
        f"would remove {names['dead']} (16 KiB of data, 20 KiB file): stale: its creator is dead and no live process maps it",
        f"would remove {names['reused']} (8 B of data, 4.0 KiB file): stale: its creator is dead and no live process maps it",
        "gc: would remove 2 named arrays (16 KiB of data, 24 KiB file), kept 6",
    ]
    assert set(names.values()) <= shm_names()
    # The whole machine's dry run names ours too, and removes nothing.
    everything = ndshare_cmd("gc", "-n").stdout
    assert f"would remove {names['dead']} " in everything and f" {names['live']} " not in everything
    assert set(names.values()) <= shm_names()

    out = ndshare_cmd("gc", "--prefix", prefix, "--verbose")
    assert out.returncode == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    assert lines[-1] == "gc: removed 2 named arrays (16 KiB of data, 24 KiB file), kept 6"
    assert (
        f"removed {names['dead']} (16 KiB of data, 20 KiB file): stale: its creator is dead and no live process maps it"
        in lines
    )
    assert f"kept {names['orphan']}: in use by 1 live process" in lines
    assert f"kept {names['idle']}: not mapped by any live process, but its creator is alive" in lines
    assert (
        f"kept {names['readable']}: its use cannot be verified (mode 0644 lets its group and other users map it read-only, unregistered)"
        in lines
    )
    assert f"kept {names['old']}: its use cannot be verified (format 1.0 keeps no attacher table)" in lines
    remaining = {k for k, n in names.items() if n in shm_names()}
    assert remaining == {k for k, v in expected.items() if v != "stale"}
    # The orphan's attacher still has its array, and gc has nothing more to do.
    assert attacher.ask() == "(1024,)\n"
    again = ndshare_cmd("gc", "--prefix", prefix)
    assert again.stdout == "gc: removed 0 named arrays (0 B of data, 0 B file), kept 6\n"
    del live


def test_every_entry_point_runs_the_same_command(prefix: str) -> None:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is built by `make build`")
    name = prefix + "same"
    a = ndshare.zeros((2, 2), name=name)
    outs = [
        ndshare_cmd("info", name, "--json", cmd=cmd)
        for cmd in ([SCRIPT], [sys.executable, "-m", "ndshare"], [str(BINARY)])
    ]
    assert [o.returncode for o in outs] == [0, 0, 0]
    assert outs[0].stdout == outs[1].stdout == outs[2].stdout
    errs = [
        ndshare_cmd("info", prefix + "nope", cmd=cmd)
        for cmd in ([SCRIPT], [sys.executable, "-m", "ndshare"], [str(BINARY)])
    ]
    assert {(e.returncode, e.stderr) for e in errs} == {
        (1, f'ndshare: no shared array named "{prefix}nope" (see `ndshare list` for the named arrays)\n')
    }
    # The function behind the console script, in this process.
    from ndshare.__main__ import main

    assert main(["info", prefix + "nope"]) == 1
    assert main(["rm", "--force", prefix + "nope"]) == 0
    del a


def test_output_into_a_closed_pipe_is_quiet(prefix: str) -> None:
    # Far more than a pipe holds, to a reader that stops after 10 bytes.
    arrays = [ndshare.zeros(1, name=f"{prefix}{i:03d}") for i in range(150)]
    p = subprocess.run(
        ["bash", "-c", f"{SCRIPT} list --json | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (p.stdout, p.stderr) == ("0\n", "")
    assert len(ndshare_cmd("list", "--json").stdout) > 150 * 500
    del arrays


def test_a_full_attacher_table_is_shown_and_keeps_the_array(prefix: str) -> None:
    name = prefix + "full"
    held = [ndshare.zeros(2, name=name)] + [ndshare.attach(name) for _ in range(64)]
    assert row_of(ndshare_cmd("list").stdout, name)[-2:] == ["1+1", "in use"]
    info = ndshare.info(name)
    assert (len(info.attachers), info.live_attachers, info.unregistered_attachers) == (64, 1, 1)
    out = ndshare_cmd("info", name).stdout
    assert "attachers       1 live process, 1 more live that found the table full\n" in out
    del held[-1]  # the one that found the table full
    assert row_of(ndshare_cmd("list").stdout, name)[-2:] == ["1", "in use"]
    del held


NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="running the command as a second uid (nobody) needs root")


@pytest.fixture
def binary_for_nobody() -> Iterator[str]:
    """A copy of the binary in a directory that a second user may enter: the
    checkout may lie where only its owner can (a home directory, a private
    temporary directory)."""
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is built by `make build`")
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        yield shutil.copy2(BINARY, d)


@needs_root
def test_another_user_sees_what_it_cannot_read_and_removes_nothing(
    prefix: str, holders: List[Holder], binary_for_nobody: str
) -> None:
    def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary_for_nobody, *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
        )

    private, shared = prefix + "private", prefix + "shared"
    ndshare.zeros(1, name=private)  # 0600: nobody may not even read it
    creator = Holder(f"a = ndshare.zeros(1, name={shared!r}, mode=0o666)")
    holders.append(creator)
    creator.kill()  # shared: stale, and anyone may read it, but only root remove it
    assert ndshare.info(shared).status == "stale"

    row = row_of(as_nobody("list").stdout, private)
    assert row[-1] == f'unreadable: permission denied: cannot open "{private}"'
    out = as_nobody("info", private)
    assert (out.returncode, out.stdout, out.stderr) == (1, "", f'ndshare: permission denied: cannot open "{private}"\n')
    out = as_nobody("rm", private)
    assert (out.returncode, out.stdout, out.stderr) == (
        1,
        "",
        f'ndshare: permission denied: cannot unlink "{private}"\n',
    )
    out = as_nobody("gc", "--prefix", prefix)
    assert out.returncode == 1
    assert out.stdout == "gc: removed 0 named arrays (0 B of data, 0 B file), kept 1\n"
    assert out.stderr.startswith(f"ndshare: cannot remove {shared}: permission denied") and out.stderr.count("\n") == 1
    assert {private, shared} <= shm_names()


# --- dump and load: .npy files ---------------------------------------------

ENTRY_POINTS = {"script": [SCRIPT], "module": [sys.executable, "-m", "ndshare"], "binary": [str(BINARY)]}


def npy_cases() -> List[np.ndarray]:
    rng = np.random.default_rng(7)
    structured = np.dtype([("x", "<f8"), ("n", "<i4", (2, 3)), ("tag", "S3"), ("inner", [("a", "<u2"), ("b", "?")])])
    s = np.zeros(4, dtype=structured)
    s["x"], s["n"], s["tag"], s["inner"]["a"] = [1.5, -2, 3, 4], 7, b"ab", [1, 2, 3, 4]
    return [
        rng.standard_normal((3, 4)),  # <f8, C order
        np.asfortranarray(rng.standard_normal((5, 3, 2)).astype("f4")),  # F order
        np.arange(12, dtype=">i2").reshape(3, 4),  # big-endian
        np.array([True, False, True]),
        (rng.standard_normal(6) + 1j).astype("c16"),
        np.arange(4, dtype="float16"),
        np.array(["2024-01-01T00:00:00.123456789", "NaT"], dtype="M8[ns]"),
        np.array([1, -2, 3], dtype="m8[s]"),
        np.array(["héllo", "名前", ""], dtype="U5"),
        s,
        np.ones(3, dtype=[("é", "<i4")]),  # latin-1 field name: format 1.0
        np.array(np.arange(6).reshape(2, 3), dtype=[("名前", "<i8")]),  # UTF-8 field name: format 3.0
        np.array(3.25),  # 0-d
        np.zeros((0, 4), dtype="u1"),  # no data
    ]


def numpy_save(path: Path, x: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numpy says when it writes format 2.0 or 3.0
        np.save(path, x)


@pytest.mark.parametrize("entry", ["script", "binary"])
def test_dump_writes_the_file_numpy_writes(prefix: str, tmp_path: Path, entry: str) -> None:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is built by `make build`")
    for i, x in enumerate(npy_cases()):
        name = f"{prefix}dump{i}"
        a = ndshare.array(x, name=name)
        path = tmp_path / f"{i}.npy"
        out = ndshare_cmd("dump", name, str(path), cmd=ENTRY_POINTS[entry])
        assert (out.returncode, out.stderr) == (0, ""), (x.dtype, out.stderr)
        assert out.stdout.startswith(f"dumped {name} to {path}: "), out.stdout
        back = np.load(path)
        assert back.dtype == x.dtype and back.shape == x.shape, x.dtype
        assert back.flags.f_contiguous == x.flags.f_contiguous and back.tobytes("A") == x.tobytes("A"), x.dtype
        numpy_save(tmp_path / "numpy.npy", x)
        assert path.read_bytes() == (tmp_path / "numpy.npy").read_bytes(), x.dtype
        del a


@pytest.mark.parametrize("entry", ["module", "binary"])
def test_load_makes_the_array_numpy_saved(prefix: str, tmp_path: Path, entry: str) -> None:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is built by `make build`")
    for i, x in enumerate(npy_cases()):
        name = f"{prefix}load{i}"
        path = tmp_path / f"{i}.npy"
        numpy_save(path, x)
        out = ndshare_cmd("load", str(path), name, cmd=ENTRY_POINTS[entry])
        assert (out.returncode, out.stderr) == (0, ""), (x.dtype, out.stderr)
        assert out.stdout.startswith(f"loaded {name} from {path}: "), out.stdout
        a = ndshare.attach(name, readonly=True)
        assert a.dtype == x.dtype and a.shape == x.shape, x.dtype
        assert a.flags.f_contiguous == x.flags.f_contiguous and a.tobytes("A") == x.tobytes("A"), x.dtype
        assert oct(ndshare.info(name).mode or 0) == "0o600"
        del a
    # --mode, and a round trip through dump.
    x = np.arange(10.0)
    numpy_save(tmp_path / "m.npy", x)
    out = ndshare_cmd("load", "--mode", "0644", str(tmp_path / "m.npy"), prefix + "mode", cmd=ENTRY_POINTS[entry])
    assert out.returncode == 0 and ndshare.info(prefix + "mode").mode == 0o644
    assert ndshare_cmd("dump", prefix + "mode", str(tmp_path / "again.npy"), cmd=ENTRY_POINTS[entry]).returncode == 0
    assert np.array_equal(np.load(tmp_path / "again.npy"), x)


def test_load_refuses_what_it_cannot_share_and_leaves_no_name(prefix: str, tmp_path: Path) -> None:
    name = prefix + "refused"
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    good = tmp_path / "good.npy"
    np.save(good, np.arange(100_000, dtype="i8"))
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes(good.read_bytes()[:-8])
    malformed = tmp_path / "malformed.npy"
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': [3]}".ljust(118) + b"\n"
    malformed.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + bytes(24))
    code = tmp_path / "code.npy"
    text = b"__import__('os').system('touch pwned')".ljust(118) + b"\n"
    code.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)
    npz = tmp_path / "several.npz"
    np.savez(npz, a=np.ones(2))
    for path, message in [
        (objects, f'ndshare: cannot load {objects}: the array holds Python objects (dtype "|O")'),
        (
            truncated,
            f"ndshare: cannot load {truncated}: the file ends before its array's data (799992 of 800000 bytes)",
        ),
        (malformed, f"ndshare: cannot load {malformed}: invalid .npy header ('shape' is not a tuple)"),
        (code, f"ndshare: cannot load {code}: invalid .npy header (not a Python dict literal)"),
        (npz, f"ndshare: cannot load {npz}: this is an .npz archive, not an .npy file"),
        (tmp_path / "none.npy", f"ndshare: cannot open {tmp_path / 'none.npy'}: No such file or directory"),
    ]:
        out = ndshare_cmd("load", str(path), name)
        assert (out.returncode, out.stdout) == (1, ""), path
        assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
        assert name not in shm_names()
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    # A name that is taken is left as it was.
    taken = ndshare.full(3, 5.0, name=name)
    out = ndshare_cmd("load", str(good), name)
    assert out.returncode == 1 and "exists already" in out.stderr
    assert ndshare.attach(name).tolist() == [5.0] * 3
    del taken
    for args in (["load", str(good), name + "x", "--mode", "999"], ["load", str(good)], ["dump", name]):
        assert ndshare_cmd(*args).returncode == 2, args


def test_a_killed_load_leaves_no_name(prefix: str, tmp_path: Path) -> None:
    name = prefix + "killed"
    x = np.arange(4 << 20, dtype="u1")
    numpy_save(tmp_path / "x.npy", x)
    data = (tmp_path / "x.npy").read_bytes()
    fifo = tmp_path / "slow.npy"
    os.mkfifo(fifo)
    load = subprocess.Popen([SCRIPT, "load", str(fifo), name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Opening a FIFO to write fails until a reader has it open: wait for
        # the loader to open it (or to exit, which fails the test).
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                assert e.errno == errno.ENXIO
                assert load.poll() is None, load.communicate()
                time.sleep(0.01)
        os.set_blocking(fd, True)
        with open(fd, "wb") as w:
            # More than a pipe holds: once written, the loader has read the
            # header, made the array and written most of this into it.
            w.write(data[: 1 << 20])
            w.flush()
            assert name not in shm_names()
            load.send_signal(signal.SIGKILL)
            assert load.wait(30) == -signal.SIGKILL
    finally:
        if load.poll() is None:
            load.kill()
        load.communicate()
    assert name not in shm_names()
    with pytest.raises(FileNotFoundError):
        ndshare.attach(name)


def test_dump_of_a_missing_array_or_to_an_unwritable_file_fails(prefix: str, tmp_path: Path) -> None:
    out = ndshare_cmd("dump", prefix + "nope", str(tmp_path / "x.npy"))
    assert out.returncode == 1 and out.stderr.startswith(f'ndshare: no shared array named "{prefix}nope"')
    assert not (tmp_path / "x.npy").exists()
    a = ndshare.zeros(2, name=prefix + "here")
    out = ndshare_cmd("dump", prefix + "here", str(tmp_path / "no" / "dir" / "x.npy"))
    assert out.returncode == 1 and out.stderr.startswith(
        f"ndshare: cannot create {tmp_path / 'no' / 'dir' / 'x.npy'}: "
    )
    del a


# --- sizes, --json on rm and gc, names with the file prefix, help ----------


def test_every_subcommand_gives_the_same_two_sizes(prefix: str, holders: List[Holder]) -> None:
    name = prefix + "sizes"
    a = ndshare.zeros((3, 3), dtype="<i4", name=name)  # 36 B of data after a 4096-byte header
    row = dict(zip(HEADING, row_of(ndshare_cmd("list").stdout, name)))
    assert (row["DATA"], row["FILE"]) == ("36 B", "4.0 KiB")
    fields = dict(
        re.split(r"\s{2,}", line, maxsplit=1)
        for line in ndshare_cmd("info", name).stdout.splitlines()
        if not line.startswith(" ")
    )
    assert (fields["data"], fields["file"]) == (
        "36 B (36 bytes)",
        "4.0 KiB (4132 bytes: a 4096-byte header, then the data)",
    )
    j = json.loads(ndshare_cmd("info", name, "--json").stdout)
    assert (j["nbytes"], j["file_bytes"], j["size"], j["file_size"]) == (36, 4132, "36 B", "4.0 KiB")
    info = ndshare.info(name)
    assert (info.nbytes, info.file_bytes) == (36, 4132)
    assert os.stat(f"/dev/shm/ndshare.{name}").st_size == 4132
    del a
    # A dead creator makes it stale: gc says the same two sizes.
    dead = prefix + "dead"
    h = Holder(f"a = ndshare.zeros(2048, name={dead!r})")
    holders.append(h)
    h.kill()
    out = ndshare_cmd("gc", "--dry-run", "--prefix", dead)
    assert (
        out.stdout.splitlines()[0]
        == f"would remove {dead} (16 KiB of data, 20 KiB file): stale: its creator is dead and no live process maps it"
    )
    out = ndshare_cmd("rm", "--json", name)
    assert json.loads(out.stdout)["removed"] == [{"name": name, "nbytes": 36, "file_bytes": 4132, "live_attachers": 0}]


def test_rm_json(prefix: str, holders: List[Holder]) -> None:
    held, free, missing = prefix + "held", prefix + "free", prefix + "missing"
    h = Holder(f"a = ndshare.full(4, 9.0, name={held!r})")
    holders.append(h)
    ndshare.zeros(1, name=free)
    out = ndshare_cmd("rm", "--json", held, missing, free)
    assert out.returncode == 1
    assert out.stderr == f'ndshare: no shared array named "{missing}" (see `ndshare list` for the named arrays)\n'
    assert json.loads(out.stdout) == {
        "removed": [
            {"name": held, "nbytes": 32, "file_bytes": 4128, "live_attachers": 1},
            {"name": free, "nbytes": 8, "file_bytes": 4104, "live_attachers": 0},
        ],
        "missing": [],
        "failed": [
            {"name": missing, "error": f'no shared array named "{missing}" (see `ndshare list` for the named arrays)'}
        ],
    }
    assert not {held, free} & shm_names()
    out = ndshare_cmd("rm", "-f", "--json", missing)
    assert (out.returncode, out.stderr) == (0, "")
    assert json.loads(out.stdout) == {"removed": [], "missing": [missing], "failed": []}


def test_gc_json(prefix: str, holders: List[Holder]) -> None:
    live, dead = prefix + "live", prefix + "dead"
    a = ndshare.zeros(8, name=live)
    h = Holder(f"a = ndshare.zeros(2048, name={dead!r})")
    holders.append(h)
    h.kill()
    stale = "its creator is dead and no live process maps it"
    kept = [
        {
            "name": live,
            "nbytes": 64,
            "file_bytes": 4160,
            "status": "in use",
            "status_detail": "in use by 1 live process",
        }
    ]
    gone = [{"name": dead, "nbytes": 16384, "file_bytes": 20480, "status": "stale", "status_detail": f"stale: {stale}"}]
    for dry in (True, False):
        out = ndshare_cmd("gc", "--json", "--prefix", prefix, *(["--dry-run"] if dry else []))
        assert (out.returncode, out.stderr) == (0, "")
        assert json.loads(out.stdout) == {
            "dry_run": dry,
            "removed": gone,
            "kept": kept,
            "failed": [],
            "removed_nbytes": 16384,
            "removed_file_bytes": 20480,
        }
        assert (dead in shm_names()) == dry
    out = ndshare_cmd("gc", "--json", "--prefix", prefix)
    assert json.loads(out.stdout)["removed"] == []
    del a


def test_a_name_given_with_the_file_prefix_gets_a_hint(prefix: str) -> None:
    name = prefix + "hint"
    a = ndshare.zeros(1, name=name)
    hint = (
        f'no shared array named "ndshare.{name}"; did you mean "{name}"? '
        '(names are given without the file prefix "ndshare.")'
    )
    for args in (["info", f"ndshare.{name}"], ["rm", f"ndshare.{name}"], ["dump", f"ndshare.{name}", "/dev/null"]):
        out = ndshare_cmd(*args)
        assert (out.returncode, out.stdout, out.stderr) == (1, "", f"ndshare: {hint}\n"), args
    for call in (ndshare.attach, ndshare.info, ndshare.unlink):
        with pytest.raises(FileNotFoundError) as e:
            call(f"ndshare.{name}")
        assert hint in str(e.value), call
    assert name in shm_names()
    del a


def test_help_says_what_each_subcommand_does() -> None:
    out = ndshare_cmd("--help")
    assert out.returncode == 0 and "python -m ndshare" in out.stdout
    commands = {}
    section = out.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    for line in section.splitlines():
        word, _, text = line.strip().partition(" ")
        commands[word] = text.strip()
    assert set(commands) == {"list", "info", "rm", "gc", "dump", "load", "help"}
    for word, text in commands.items():
        assert text and len(text) <= 100, (word, text)
        if word != "help":
            sub = ndshare_cmd(word, "--help")
            assert sub.returncode == 0 and "Usage: ndshare " + word in sub.stdout, word
    assert "--json" in ndshare_cmd("rm", "--help").stdout and "--json" in ndshare_cmd("gc", "--help").stdout
    assert "--mode" in ndshare_cmd("load", "--help").stdout
