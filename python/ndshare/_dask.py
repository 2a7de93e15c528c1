"""Dask distributed: a SharedArray travels as a reference there too.

distributed sends task arguments, results, ``scatter``, worker-to-worker
transfers and spilled data through its own serialization families: "pickle"
(plain pickle) for most messages, and "dask", whose serializer for
``numpy.ndarray`` also matches subclasses: it would send a SharedArray's
data and rebuild a plain ``ndarray`` copy, so a worker's writes would not
reach the other processes. :func:`register` gives SharedArray a "dask"
serializer of its own, which sends the reference, and its own ``sizeof``
(a worker holds only a mapping of memory that other processes share:
nothing to spill, nothing to count twice); and it registers the "pickle"
family again, as distributed's own pickling done inside
``ndshare.by_reference()``, since a plain pickle of a SharedArray stores
its data.

Registration happens in every process once distributed's serialization
module is loaded, without importing distributed (slow, and optional) from
``import ndshare`` (see ``_onimport``).
"""

from __future__ import annotations

import pickle
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import _onimport
from ._pickling import by_reference

#: The module that defines distributed's serializer registries.
_TARGET = "distributed.protocol.serialize"


def _serialize(x: Any) -> Tuple[Dict[str, Any], List[bytes]]:
    with by_reference():
        return {}, [pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL)]


def _deserialize(header: Dict[str, Any], frames: Sequence[Any]) -> Any:
    return pickle.loads(frames[0])


def _sizeof(x: Any) -> int:
    # The ndarray object; its data belongs to no single process. (A decayed
    # SharedArray owns its data, and numpy's __sizeof__ counts it then.)
    return sys.getsizeof(x)


def register() -> None:
    """Registers SharedArray's serializer and sizeof with Dask distributed,
    and distributed's pickling as by reference."""
    from dask.sizeof import sizeof
    from distributed.protocol.serialize import (
        dask_deserialize,
        dask_serialize,
        pickle_dumps,
        pickle_loads,
        register_serialization_family,
    )

    from ._array import SharedArray

    # Dask's dispatchers are untyped.
    registries: "list[tuple[Any, Callable[..., Any]]]" = [
        (dask_serialize, _serialize),
        (dask_deserialize, _deserialize),
        (sizeof, _sizeof),
    ]
    for registry, func in registries:
        registry.register(SharedArray, func)

    def pickle_by_reference(x: Any, context: Optional[Dict[str, Any]] = None) -> Tuple[Dict[str, Any], List[Any]]:
        with by_reference():
            return pickle_dumps(x, context=context)  # type: ignore[no-any-return,no-untyped-call]

    register_serialization_family("pickle", pickle_by_reference, pickle_loads)  # type: ignore[no-untyped-call]


def install() -> None:
    """Registers now if distributed's serialization is loaded, else as soon
    as it is. Called once by ``import ndshare``."""
    _onimport.when_imported(_TARGET, register)
