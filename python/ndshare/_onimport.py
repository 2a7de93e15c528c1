"""Run a registration when an optional library's module is loaded.

ndshare registers its reducers with joblib's loky and its serializers with
Dask distributed in every process that uses them, without importing those
libraries (slow, and optional) from ``import ndshare``: :func:`when_imported`
calls its function at once if the module is loaded, else right after it
loads, through a ``sys.meta_path`` finder that wraps that module's loader for
that one load and restores it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
import warnings
from typing import Callable, Dict, List, Optional, Sequence

_pending: Dict[str, List[Callable[[], None]]] = {}
_lock = threading.Lock()


def _run(name: str, funcs: List[Callable[[], None]]) -> None:
    for func in funcs:
        try:
            func()
        except Exception as e:  # never break the import of the library itself
            warnings.warn(
                f"ndshare: cannot register with {name} ({e!r}); shared arrays sent through it will be copied",
                RuntimeWarning,
                stacklevel=3,
            )


class _RegisteringLoader(importlib.abc.Loader):
    """Loads the module as its own loader would, then registers."""

    def __init__(self, loader: importlib.abc.Loader, funcs: List[Callable[[], None]]) -> None:
        self._loader = loader
        self._funcs = funcs

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # Restore the real loader first: the module keeps no trace of this one.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _run(module.__name__, self._funcs)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when a awaited module is about to be loaded,
    it lets the other finders find it and wraps the loader they return."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[types.ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        with _lock:
            funcs = _pending.pop(fullname, None)
            if not _pending:
                _uninstall()
        if funcs is None:
            return None
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader, funcs)
        return spec


_hook: Optional[_ImportHook] = None


def _uninstall() -> None:
    global _hook
    if _hook is not None and _hook in sys.meta_path:
        sys.meta_path.remove(_hook)
    _hook = None


def when_imported(name: str, func: Callable[[], None]) -> None:
    """Calls ``func()`` now if module ``name`` is loaded, else as soon as it
    is. A failure is a warning, never an error of the import."""
    global _hook
    with _lock:
        if name not in sys.modules:
            _pending.setdefault(name, []).append(func)
            if _hook is None:
                _hook = _ImportHook()
                sys.meta_path.insert(0, _hook)
            return
    _run(name, [func])
