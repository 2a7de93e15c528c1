"""What ``help()`` shows: numpy-style docstrings whose examples run, titled
by the public names, and descriptions that print as a user reads them."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import pydoc
import subprocess
import sys
import types
from typing import Any, Iterator, List, Tuple

import numpy as np
import pytest

import ndshare
import ndshare.atomic
import ndshare.parallel


def public_objects() -> Iterator[Tuple[str, Any]]:
    for name in ndshare.__all__:
        obj = getattr(ndshare, name)
        if not isinstance(obj, types.ModuleType):
            yield f"ndshare.{name}", obj
    for name in ndshare.atomic.__all__:
        yield f"ndshare.atomic.{name}", getattr(ndshare.atomic, name)
    yield "ndshare.parallel.map_blocks", ndshare.parallel.map_blocks


def public_methods() -> Iterator[Tuple[str, Any]]:
    for qual, cls in public_objects():
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        for attr, value in vars(cls).items():
            if attr.startswith("_") or getattr(np.ndarray, attr, None) is not None:
                continue  # private, or numpy's own (documented by numpy)
            if not (callable(value) or isinstance(value, property)):
                continue  # a dataclass field's default: the class documents it
            yield f"{qual}.{attr}", value


def docstring(obj: Any) -> str:
    if isinstance(obj, property):
        obj = obj.fget
    return inspect.getdoc(obj) or ""


@pytest.mark.parametrize("qual, obj", list(public_objects()), ids=lambda x: x if isinstance(x, str) else "")
def test_public_names_have_numpy_style_docstrings(qual: str, obj: Any) -> None:
    doc = docstring(obj)
    assert "Examples\n--------\n" in doc, f"{qual}: no Examples section"
    assert ">>> " in doc.split("Examples\n--------\n", 1)[1], f"{qual}: no example to run"
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        # When it is raised and what to do about it, beyond the summary line.
        assert len(doc.split("Examples\n--------\n", 1)[0].split("\n\n", 1)[-1]) > 200, qual
        return
    if dataclasses.is_dataclass(obj):
        assert "Attributes\n----------\n" in doc, f"{qual}: no Attributes section"
    elif inspect.isfunction(obj) or inspect.isclass(obj):
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
        if params:
            assert "Parameters\n----------\n" in doc, f"{qual}: no Parameters section"
    if inspect.isfunction(obj):
        assert "Returns\n-------\n" in doc, f"{qual}: no Returns section"


@pytest.mark.parametrize("qual, obj", list(public_methods()), ids=lambda x: x if isinstance(x, str) else "")
def test_public_methods_and_properties_are_documented(qual: str, obj: Any) -> None:
    doc = docstring(obj)
    assert len(doc) > 20, f"{qual} has no docstring"


def test_help_titles_ndshare_list_as_list() -> None:
    assert ndshare.list.__name__ == "list" and ndshare.list.__qualname__ == "list"
    assert pydoc.render_doc(ndshare.list, renderer=pydoc.plaintext).splitlines()[2].startswith("list()")


def doctests() -> List[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    found = []
    modules = [ndshare, ndshare.atomic, ndshare.parallel]
    modules += [
        sys.modules[f"ndshare.{m}"] for m in ("_array", "_io", "_registry", "_reduce", "_kept", "_sync", "_ring")
    ]
    seen = set()
    for module in modules:
        for test in finder.find(module):
            last = test.name.rsplit(".", 1)[-1]
            numpy_doc = getattr(getattr(np.ndarray, last, None), "__doc__", None)
            if not test.examples or test.docstring == numpy_doc or test.name in seen:
                continue  # numpy's own docstrings, kept by methods that wrap numpy's
            seen.add(test.name)
            found.append(test)
    return found


@pytest.mark.parametrize("test", doctests(), ids=lambda t: t.name)
def test_docstring_examples_run(test: doctest.DocTest) -> None:
    before = {i.name for i in ndshare.list()}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out: List[str] = []
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.failed == 0, "".join(out)
    assert {i.name for i in ndshare.list()} <= before, "an example left a named array behind"


def test_array_info_shows_the_mode_in_octal(name: str) -> None:
    # Another process creates the array; this one describes it.
    maker = f"import ndshare, sys; ndshare.zeros(3, name={name!r}, mode=0o640); sys.stdout.write('made')"
    assert subprocess.run([sys.executable, "-c", maker], capture_output=True, text=True, check=True).stdout == "made"
    info = ndshare.info(name)
    assert info.mode == 0o640
    assert "mode=0o640," in repr(info)
    assert "mode=416" not in repr(info)
