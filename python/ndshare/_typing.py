"""The types of the constructors: the dtype asked for is the dtype typed.

``ndshare.zeros(3, dtype="f4")`` types as ``SharedArray[Tuple[int, ...],
np.dtype[np.float32]]``, as numpy's own stubs type ``np.zeros``: no dtype
gives float64 (for ``empty``, ``zeros``, ``ones``) or the input's dtype (for
``array``, ``asarray`` and the ``*_like`` constructors, when the input is a
typed ``ndarray``); a scalar type, a ``np.dtype`` or an object with a
``dtype`` gives its scalar type; the codes of the fixed-size numbers
(``"f4"``, ``"float32"``, ``"i8"``, ``"uint8"``, ``"c16"``, ...) give theirs;
any other dtype (``"U10"``, a structured dtype, ``float``) gives
``np.dtype[Any]``.

Each constructor is typed by one of the protocols below (``ndshare.zeros:
NewArray``), which its function satisfies: numpy types its constructors the
same way (``np.zeros: _ConstructorEmpty``). Only type checkers read this
module's overloads; at run time the constructors are the plain functions of
``_array`` and ``_io``.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Protocol, Tuple, Type, TypeVar, Union, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._array import ShapeLike, SharedArray

_ScalarT = TypeVar("_ScalarT", bound=np.generic)
_DTypeT_co = TypeVar("_DTypeT_co", bound="np.dtype[Any]", covariant=True)


class _HasDType(Protocol[_DTypeT_co]):
    """Anything with a ``dtype`` attribute, as ``np.dtype()`` accepts."""

    @property
    def dtype(self) -> _DTypeT_co: ...


#: A dtype whose scalar type is known: the scalar type itself
#: (``np.float32``), a ``np.dtype``, or an object with a ``dtype``.
DTypeOf = Union[Type[_ScalarT], "np.dtype[_ScalarT]", "_HasDType[np.dtype[_ScalarT]]"]

# The codes numpy reads as each fixed-size number type (Linux, 64 bits).
_BoolCodes = Literal["bool", "bool_", "?", "b1", "|b1"]
_Int8Codes = Literal["int8", "i1", "|i1", "b", "byte"]
_Int16Codes = Literal["int16", "i2", "<i2", "h", "short"]
_Int32Codes = Literal["int32", "i4", "<i4", "i", "intc"]
_Int64Codes = Literal["int64", "i8", "<i8", "q", "longlong", "l", "long"]
_UInt8Codes = Literal["uint8", "u1", "|u1", "B", "ubyte"]
_UInt16Codes = Literal["uint16", "u2", "<u2", "H", "ushort"]
_UInt32Codes = Literal["uint32", "u4", "<u4", "I", "uintc"]
_UInt64Codes = Literal["uint64", "u8", "<u8", "Q", "ulonglong", "L", "ulong"]
_Float16Codes = Literal["float16", "f2", "<f2", "e", "half"]
_Float32Codes = Literal["float32", "f4", "<f4", "f", "single"]
_Float64Codes = Literal["float64", "f8", "<f8", "d", "double", "float"]
_Complex64Codes = Literal["complex64", "c8", "<c8", "F", "csingle"]
_Complex128Codes = Literal["complex128", "c16", "<c16", "D", "cdouble", "complex"]


class NewArray(Protocol):
    """``ndshare.empty``, ``zeros`` and ``ones``: no dtype is float64."""

    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: None = ...,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: DTypeOf[_ScalarT],
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _BoolCodes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.bool_]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Int8Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int8]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Int16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int16]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Int32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int32]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Int64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _UInt8Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint8]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _UInt16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint16]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _UInt32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint32]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _UInt64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Float16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float16]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Float32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float32]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Float64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Complex64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: _Complex128Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex128]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        dtype: DTypeLike = ...,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[Any]]: ...


class Full(Protocol):
    """``ndshare.full``: no dtype is the fill value's, which the types do not know."""

    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: DTypeOf[_ScalarT],
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _BoolCodes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.bool_]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Int8Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int8]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Int16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int16]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Int32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int32]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Int64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _UInt8Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint8]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _UInt16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint16]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _UInt32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint32]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _UInt64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Float16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float16]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Float32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float32]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Float64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Complex64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex64]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: _Complex128Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex128]]: ...
    @overload
    def __call__(
        self,
        shape: ShapeLike,
        fill_value: Any,
        dtype: DTypeLike = ...,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[Any]]: ...


class Array(Protocol):
    """``ndshare.array``: no dtype is the input's (an ndarray's is known)."""

    @overload
    def __call__(
        self,
        object: np.ndarray[Any, np.dtype[_ScalarT]],
        dtype: None = ...,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: DTypeOf[_ScalarT],
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _BoolCodes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.bool_]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Int8Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int8]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Int16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int16]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Int32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int32]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Int64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int64]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _UInt8Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint8]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _UInt16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint16]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _UInt32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint32]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _UInt64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint64]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Float16Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float16]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Float32Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float32]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Float64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float64]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Complex64Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex64]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: _Complex128Codes,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex128]]: ...
    @overload
    def __call__(
        self,
        object: ArrayLike,
        dtype: DTypeLike = ...,
        order: str = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[Any]]: ...


class AsArray(Protocol):
    """``ndshare.asarray``: as ``ndshare.array``."""

    @overload
    def __call__(
        self,
        x: np.ndarray[Any, np.dtype[_ScalarT]],
        dtype: None = ...,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: DTypeOf[_ScalarT],
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self, x: ArrayLike, dtype: _BoolCodes, order: Optional[str] = ..., *, name: Optional[str] = ..., mode: int = ...
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.bool_]]: ...
    @overload
    def __call__(
        self, x: ArrayLike, dtype: _Int8Codes, order: Optional[str] = ..., *, name: Optional[str] = ..., mode: int = ...
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int8]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Int16Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int16]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Int32Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int32]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Int64Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int64]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _UInt8Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint8]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _UInt16Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint16]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _UInt32Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint32]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _UInt64Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint64]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Float16Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float16]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Float32Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float32]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Float64Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float64]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Complex64Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex64]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: _Complex128Codes,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex128]]: ...
    @overload
    def __call__(
        self,
        x: ArrayLike,
        dtype: DTypeLike = ...,
        order: Optional[str] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[Any]]: ...


class Like(Protocol):
    """``ndshare.empty_like``, ``zeros_like`` and ``ones_like``: no dtype is the prototype's."""

    @overload
    def __call__(
        self,
        prototype: np.ndarray[Any, np.dtype[_ScalarT]],
        dtype: None = ...,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: DTypeOf[_ScalarT],
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _BoolCodes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.bool_]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Int8Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int8]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Int16Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int16]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Int32Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int32]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Int64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _UInt8Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint8]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _UInt16Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint16]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _UInt32Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint32]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _UInt64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Float16Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float16]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Float32Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float32]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Float64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Complex64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: _Complex128Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex128]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        dtype: DTypeLike = ...,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[Any]]: ...


class FullLike(Protocol):
    """``ndshare.full_like``: no dtype is the prototype's."""

    @overload
    def __call__(
        self,
        prototype: np.ndarray[Any, np.dtype[_ScalarT]],
        fill_value: Any,
        dtype: None = ...,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: DTypeOf[_ScalarT],
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[_ScalarT]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _BoolCodes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.bool_]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Int8Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int8]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Int16Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int16]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Int32Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int32]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Int64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.int64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _UInt8Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint8]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _UInt16Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint16]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _UInt32Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint32]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _UInt64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.uint64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Float16Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float16]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Float32Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float32]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Float64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.float64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Complex64Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex64]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: _Complex128Codes,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[np.complex128]]: ...
    @overload
    def __call__(
        self,
        prototype: ArrayLike,
        fill_value: Any,
        dtype: DTypeLike = ...,
        order: str = ...,
        shape: Optional[ShapeLike] = ...,
        *,
        name: Optional[str] = ...,
        mode: int = ...,
        huge_pages: bool = ...,
    ) -> SharedArray[Tuple[int, ...], np.dtype[Any]]: ...
