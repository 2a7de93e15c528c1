"""Types of the compiled module (crates/ndshare-py/src/lib.rs)."""

from typing import Any, Dict, List, Optional, Tuple, final

__all__ = [
    "Segment",
    "unlink",
    "list_named",
    "FormatError",
    "UnreachableError",
    "SHM_DIR",
    "FORMAT_VERSION",
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
