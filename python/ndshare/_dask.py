"""Dask distributed: a SharedArray travels as a reference there too.

Task arguments reach Dask workers through pickle, where
``SharedArray.__reduce__`` already sends a reference. Results, ``scatter``,
worker-to-worker transfers and spilling go through distributed's own
serializers instead, and the one it registers for ``numpy.ndarray`` also
matches subclasses: it would send a SharedArray's data and rebuild a plain
``ndarray`` copy, so a worker's writes would not reach the other processes.
:func:`register` gives SharedArray its own serializer, which sends the
reference, and its own ``sizeof`` (a worker holds only a mapping of memory
that other processes share: nothing to spill, nothing to count twice).

Registration must happen in every process after distributed's serialization
module is loaded, without importing distributed (slow, and optional) from
``import ndshare``: :func:`install` registers at once if that module is
loaded, else waits for it with a one-shot import hook.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import pickle
import sys
import types
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

#: The module that defines distributed's serializer registries.
_TARGET = "distributed.protocol.serialize"


def _serialize(x: Any) -> Tuple[Dict[str, Any], List[bytes]]:
    return {}, [pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL)]


def _deserialize(header: Dict[str, Any], frames: Sequence[Any]) -> Any:
    return pickle.loads(frames[0])


def _sizeof(x: Any) -> int:
    # The ndarray object; its data belongs to no single process. (A decayed
    # SharedArray owns its data, and numpy's __sizeof__ counts it then.)
    return sys.getsizeof(x)


def register() -> None:
    """Registers SharedArray's serializer and sizeof with Dask distributed."""
    from dask.sizeof import sizeof
    from distributed.protocol.serialize import dask_deserialize, dask_serialize

    from ._array import SharedArray

    # Dask's dispatchers are untyped.
    registries: "list[tuple[Any, Callable[..., Any]]]" = [
        (dask_serialize, _serialize),
        (dask_deserialize, _deserialize),
        (sizeof, _sizeof),
    ]
    for registry, func in registries:
        registry.register(SharedArray, func)


class _RegisteringLoader(importlib.abc.Loader):
    """Loads the target module as its own loader would, then registers."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # Restore the real loader first: the module keeps no trace of this one.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        try:
            register()
        except Exception as e:  # never break the import of distributed itself
            warnings.warn(f"ndshare: cannot register with Dask distributed ({e!r}); "
                          "shared arrays in task results will be copied", RuntimeWarning, stacklevel=2)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when the target module is about to be loaded,
    it lets the other finders find it and wraps the loader they return."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[types.ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != _TARGET:
            return None
        _uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


_hook: Optional[_ImportHook] = None


def _uninstall() -> None:
    global _hook
    if _hook is not None and _hook in sys.meta_path:
        sys.meta_path.remove(_hook)
    _hook = None


def install() -> None:
    """Registers now if distributed's serialization is loaded, else as soon
    as it is. Called once by ``import ndshare``."""
    global _hook
    if _TARGET in sys.modules:
        register()
    elif _hook is None:
        _hook = _ImportHook()
        sys.meta_path.insert(0, _hook)
