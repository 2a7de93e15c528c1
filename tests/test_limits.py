"""Running short: a small /dev/shm, few file descriptors, a small address
space, more memory than the machine has. Each is an error at creation that
says how to fix it; nothing is left behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from _procfs import shm_free_bytes
from conftest import run_python

import ndshare

MiB = 1 << 20

SMALL_SHM = """
import json, os, ndshare
out = {}
try:
    ndshare.zeros(2 << 20, dtype="u1", name="too-big")
except MemoryError as e:
    out["named"] = str(e)
out["left_behind"] = sorted(os.listdir("/dev/shm"))
out["anonymous"] = int(ndshare.full(2 << 20, 1, dtype="u1").sum())
out["small_named"] = ndshare.zeros(256 << 10, dtype="u1", name="fits").nbytes
print(json.dumps(out))
"""


def _private_small_shm_available() -> str:
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    probe = subprocess.run(
        ["unshare", "-m", "--", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"cannot mount a tmpfs in a private mount namespace here: {probe.stderr.strip()}"
    return ""


def test_small_dev_shm_is_a_memory_error_with_the_fix() -> None:
    why = _private_small_shm_available()
    if why:
        pytest.skip(why)
    # A private mount namespace with a 1 MiB tmpfs over /dev/shm, for one process.
    script = f'mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "{sys.executable}" -c "$0"'
    res = subprocess.run(
        ["unshare", "-m", "--", "sh", "-c", script, SMALL_SHM], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    msg = out["named"]
    assert "cannot reserve 2.0 MiB of shared memory" in msg, msg  # 4 KiB header + 2 MiB
    assert "/dev/shm has 1.0 MiB free" in msg, msg
    assert "--shm-size" in msg and "ndshare gc" in msg and "without a name" in msg, msg
    assert out["left_behind"] == [], "nothing half-made, no name published"
    assert out["anonymous"] == 2 * MiB, "anonymous arrays are not bounded by /dev/shm"
    assert out["small_named"] == 256 << 10


FEW_FDS = """
import errno, json, resource, sys, ndshare
soft, hard = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
arrays, out = [], {}
try:
    for i in range(10 * hard):
        arrays.append(ndshare.full(4, i, dtype="i8"))
except OSError as e:
    out["errno"], out["message"] = e.errno, str(e)
out["made"] = len(arrays)
out["intact"] = all(int(a[3]) == i for i, a in enumerate(arrays))
out["soft_now"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
del arrays[: len(arrays) // 2]
out["after_freeing"] = int(ndshare.full(4, 7, dtype="i8").sum())
print(json.dumps(out))
"""


def test_few_file_descriptors_is_an_error_that_says_so() -> None:
    out = json.loads(run_python(FEW_FDS, "64", "64").stdout)
    assert out["errno"] == 24, out  # EMFILE
    assert "no file descriptor left" in out["message"] and "ulimit -n" in out["message"], out
    assert 40 < out["made"] < 64, out
    assert out["intact"] and out["after_freeing"] == 28


def test_the_soft_descriptor_limit_is_raised_when_needed() -> None:
    out = json.loads(run_python(FEW_FDS, "64", "256").stdout)
    assert out["soft_now"] == 256, out
    assert 200 < out["made"] < 256 and out["errno"] == 24, out


SMALL_ADDRESS_SPACE = """
import json, os, resource, sys, ndshare
def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
limit = vm_size() + (64 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = {"limit": limit}
for key, kwargs in (("anonymous", {}), ("named", {"name": sys.argv[1]})):
    try:
        ndshare.zeros(256 << 20, dtype="u1", **kwargs)
    except MemoryError as e:
        out[key] = str(e)
out["name_left"] = os.path.exists("/dev/shm/ndshare." + sys.argv[1])
out["small"] = int(ndshare.full(1 << 20, 1, dtype="u1").sum())
print(json.dumps(out))
"""


def test_small_address_space_is_a_memory_error_with_the_fix(name: str) -> None:
    shm_has_room = shm_free_bytes() > (256 << 20) + (1 << 20)
    out = json.loads(run_python(SMALL_ADDRESS_SPACE, name).stdout)
    for key in ("anonymous", "named"):
        msg = out[key]
        assert "cannot reserve 256 MiB of shared memory" in msg, msg
        if key == "named" and not shm_has_room:
            # A small /dev/shm (64 MiB in a default Docker container) is
            # met first, and is the fix to name.
            assert "/dev/shm has" in msg and "--shm-size" in msg, msg
            continue
        assert re.search(r"limited to \d+(\.\d)? [MG]iB \(RLIMIT_AS\)", msg) and "ulimit -v" in msg, msg
    assert out["name_left"] is False, "the name is published only once the array is complete"
    assert out["small"] == 1 << 20


def test_more_than_the_machine_has_is_refused_at_once() -> None:
    # Sizes in human units: 2**50 bytes and a 4 KiB header, the machine's total.
    with pytest.raises(
        MemoryError,
        match=r"cannot reserve 1\.0 PiB of shared memory: the machine has \d+(\.\d)? [KMGT]iB of RAM and swap in all",
    ):
        ndshare.zeros(1 << 50, dtype="u1")
