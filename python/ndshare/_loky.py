"""joblib's loky: a SharedArray goes to loky's workers, and back, as a reference.

loky pickles the tasks and results of its process pool with its own pickler
(cloudpickle by default) and a reducer registry of its own,
``loky.backend.reduction.register``, which applies to that pickler only. A
SharedArray registers there the locator of ``_array.reduce_reference``, so
``joblib.Parallel`` with the loky backend sends references while a plain
``cloudpickle.dumps`` elsewhere stores the data. (Why a locator and not the
descriptor itself: docs/architecture.md, "Crossing to another process".)

loky is vendored by joblib (``joblib.externals.loky``) and also installed on
its own (``loky``): each copy has its own registry, and each is registered as
soon as it is loaded, without ``import ndshare`` importing either.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Iterator, Tuple, Type

from . import _onimport
from ._array import SUBCLASS_HOOKS, SharedArray, reduce_reference

#: The modules that hold loky's reducer registry, in joblib and on its own.
_TARGETS = ("joblib.externals.loky.backend.reduction", "loky.backend.reduction")


def _reduce(arr: Any) -> Tuple[Any, ...]:
    return reduce_reference(arr)


def _classes() -> Iterator[Type[Any]]:
    todo = [SharedArray]
    while todo:
        cls = todo.pop()
        yield cls
        todo.extend(cls.__subclasses__())


def _register_with(module: str) -> None:
    for cls in _classes():
        sys.modules[module].register(cls, _reduce)


def register_class(cls: Type[Any]) -> None:
    """Registers a subclass defined after loky was loaded (the registry,
    like multiprocessing's, looks reducers up by exact type)."""
    for module in _TARGETS:
        reduction = sys.modules.get(module)
        if reduction is not None and hasattr(reduction, "register"):
            reduction.register(cls, _reduce)


def install() -> None:
    """Registers with each copy of loky now if it is loaded, else as soon as
    it is. Called once by ``import ndshare``."""
    for module in _TARGETS:
        _onimport.when_imported(module, functools.partial(_register_with, module))
    SUBCLASS_HOOKS.append(register_class)
