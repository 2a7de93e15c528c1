"""Every ```python block of docs/guide.md runs, each as a program of its own.

A block preceded by ``<!-- guide-test: requires NAME ... -->`` documents a
feature this build may not have yet; it runs when every ``ndshare.NAME``
exists and is skipped (saying which is missing) otherwise.
"""

from __future__ import annotations

import operator
import re
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

import pytest
from conftest import with_fresh_names

import ndshare

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
_REQUIRES = re.compile(r"<!-- guide-test: requires ([\w. ]+) -->\s*$")


class Snippet(NamedTuple):
    line: int
    code: str
    requires: List[str]


def snippets() -> List[Snippet]:
    text = GUIDE.read_text()
    found = []
    for m in _BLOCK.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        req = _REQUIRES.search(before)
        found.append(Snippet(text.count("\n", 0, m.start()) + 1, m.group(1), req.group(1).split() if req else []))
    return found


def missing(requires: List[str]) -> Optional[str]:
    for name in requires:
        try:
            operator.attrgetter(name)(ndshare)
        except AttributeError:
            return name
    return None


def test_the_guide_has_snippets() -> None:
    found = snippets()
    assert len(found) >= 15
    assert all("```" not in s.code for s in found)


@pytest.mark.parametrize("snippet", snippets(), ids=lambda s: f"guide.md:{s.line}")
def test_snippet_runs(snippet: Snippet, tmp_path: Path) -> None:
    lacking = missing(snippet.requires)
    if lacking is not None:
        pytest.skip(f"documents ndshare.{lacking}, which this build does not have yet")
    script = tmp_path / f"guide_{snippet.line}.py"
    script.write_text(with_fresh_names(snippet.code))
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, f"docs/guide.md line {snippet.line} failed:\n{proc.stdout}\n{proc.stderr}"
