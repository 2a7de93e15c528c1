"""Dask distributed: a SharedArray travels as a reference there too.

distributed sends task arguments, results, ``scatter``, worker-to-worker
transfers and spilled data through its serialization families. Its "dask"
family's serializer for ``numpy.ndarray`` also matches subclasses: it would
send a SharedArray's data and rebuild a plain ``ndarray`` copy, so a
worker's writes would not reach the other processes. :func:`register` gives
SharedArray a "dask" serializer of its own, which sends the reference, and
its own ``sizeof`` (a worker holds only a mapping of memory that other
processes share: nothing to spill, nothing to count twice). Everything else
(task arguments, tuples of results) distributed pickles with
``distributed.protocol.pickle.dumps``, which :func:`_pickle_by_reference`
runs inside ``ndshare.by_reference()``: a plain pickle of a SharedArray
stores its data.

Registration happens in every process once distributed's serialization
module is loaded, without importing distributed (slow, and optional) from
``import ndshare`` (see ``_onimport``).
"""

from __future__ import annotations

import functools
import pickle
import sys
from typing import Any, Callable, Dict, List, Sequence, Tuple

from . import _onimport
from ._array import SharedArray
from ._reduce import by_reference

#: The module that defines distributed's serializer registries.
_TARGET = "distributed.protocol.serialize"
#: The module whose ``dumps`` pickles distributed's messages.
_PICKLE = "distributed.protocol.pickle"


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
    """Registers SharedArray's serializer and sizeof with Dask distributed."""
    from dask.sizeof import sizeof
    from distributed.protocol.serialize import dask_deserialize, dask_serialize

    # Dask's dispatchers are untyped.
    registries: list[tuple[Any, Callable[..., Any]]] = [
        (dask_serialize, _serialize),
        (dask_deserialize, _deserialize),
        (sizeof, _sizeof),
    ]
    for registry, func in registries:
        registry.register(SharedArray, func)


def _pickle_by_reference() -> None:
    """distributed pickles task arguments, and whatever its "dask" family does
    not take, with ``distributed.protocol.pickle.dumps``, called through the
    module (its messages, its "pickle" family). It offers no registry for
    that pickling, so the function is wrapped, once, to pickle by reference.
    (Modules that imported the function itself before ndshare was imported,
    such as the client's ``Client.run``, keep the original: their arrays
    travel as data.)"""
    from distributed.protocol import pickle as dpickle

    dumps = dpickle.dumps
    if getattr(dumps, "_ndshare_by_reference", False):
        return

    @functools.wraps(dumps)
    def dumps_by_reference(*args: Any, **kwargs: Any) -> Any:
        with by_reference():
            return dumps(*args, **kwargs)  # type: ignore[no-untyped-call]

    dumps_by_reference._ndshare_by_reference = True  # type: ignore[attr-defined]
    dpickle.dumps = dumps_by_reference


def install() -> None:
    """Registers now if distributed's serialization is loaded, else as soon
    as it is. Called once by ``import ndshare``."""
    _onimport.when_imported(_TARGET, register)
    _onimport.when_imported(_PICKLE, _pickle_by_reference)
