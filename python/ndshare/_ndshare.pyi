"""Types of the compiled module (crates/ndshare-py/src/lib.rs)."""

from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, final

__all__ = [
    "Segment",
    "unlink",
    "list_named",
    "FormatError",
    "UnreachableError",
    "SHM_DIR",
    "FORMAT_VERSION",
    "ArrayLock",
    "BarrierHandle",
    "EventHandle",
    "LockOwnerDied",
    "atomic_one",
    "atomic_many",
]

SHM_DIR: str
FORMAT_VERSION: int

class FormatError(ValueError):
    """A segment is not a valid ndshare segment."""

class UnreachableError(FileNotFoundError):
    """A shared array sent by reference cannot be reached from this process."""

@final
class Segment:
    """One mapped segment; the numpy base of every array over it."""

    @staticmethod
    def create(
        dtype: str,
        itemsize: int,
        shape: List[int] | Tuple[int, ...],
        order: str = "C",
        name: Optional[str] = None,
        mode: int = 0o600,
    ) -> Segment: ...
    @staticmethod
    def attach(name: str, readonly: bool = False) -> Segment: ...
    @staticmethod
    def from_fd(fd: int, readonly: bool = False) -> Segment: ...
    @staticmethod
    def from_process_fd(pid: int, fd: int, dev: int, ino: int, readonly: bool = False) -> Segment: ...
    def _write_from_address(self, address: int, nbytes: int, offset: int = 0) -> None: ...
    @property
    def __array_interface__(self) -> Dict[str, Any]: ...
    @property
    def data_address(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def dtype(self) -> str: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def shape(self) -> Tuple[int, ...]: ...
    @property
    def strides(self) -> Tuple[int, ...]: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def writable(self) -> bool: ...
    @property
    def fd(self) -> int: ...
    @property
    def file_id(self) -> Tuple[int, int]: ...
    def info(self) -> Dict[str, Any]: ...

def unlink(name: str) -> None: ...
def list_named() -> List[Dict[str, Any]]: ...

# crates/ndshare-py/src/sync.rs

class LockOwnerDied(RuntimeWarning):
    """A lock was acquired from a holder that died holding it."""

    lock: ArrayLock
    previous_owner: int

@final
class ArrayLock:
    """A handle on one lock of a segment: "lock", "read" or "write"."""

    def __new__(cls, segment: Optional[Segment], mode: str = "lock", timeout: Optional[float] = None) -> ArrayLock: ...
    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool: ...
    def release(self) -> None: ...
    def locked(self) -> bool: ...
    @property
    def owner(self) -> Optional[int]: ...
    @property
    def timeout(self) -> Optional[float]: ...
    def __enter__(self) -> ArrayLock: ...
    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

@final
class BarrierHandle:
    """The operations of a barrier segment."""

    def __new__(cls, segment: Segment) -> BarrierHandle: ...
    @staticmethod
    def create_segment(parties: int) -> Segment: ...
    def wait(self, timeout: Optional[float] = None) -> int: ...
    @property
    def parties(self) -> int: ...
    @property
    def n_waiting(self) -> int: ...

@final
class EventHandle:
    """The operations of an event segment."""

    def __new__(cls, segment: Segment) -> EventHandle: ...
    @staticmethod
    def create_segment() -> Segment: ...
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: Optional[float] = None) -> bool: ...

# crates/ndshare-py/src/atomic.rs

def atomic_one(op: str, a: Any, index: Any, value: Any, new: Any = None) -> Any: ...
def atomic_many(
    op: str,
    a: Any,
    indices: Sequence[Any],
    values: Any,
    new: Any = None,
    out: Any = None,
) -> None: ...
