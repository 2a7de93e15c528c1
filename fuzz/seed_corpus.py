#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/corpus: valid segments of every kind and
the classic corruptions, in the layout docs/format.md gives (header.rs
`offset`). Inputs the fuzzer finds are added beside them by `make fuzz`.

header_decode input: segment size (u64 LE), then the segment's first bytes.
segment_open input: one options byte (bit 0 read-only, bits 1-7 zero pages
appended), then the file's bytes.
"""

from __future__ import annotations

import hashlib
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
READY = 0x52454459
ALIGN = 4096
SHAPE_AT = 1280


def header(shape, strides, itemsize, dtype=b"<f8", data_len=None, *, named=False, header_len=None,
           major=1, minor=0, state=READY, magic=b"NDSHARE\0", ndim=None, dtype_len=None) -> bytes:
    need = SHAPE_AT + 16 * len(shape) + len(dtype)
    hl = header_len if header_len is not None else -(-need // ALIGN) * ALIGN
    if data_len is None:
        n = 1
        for d in shape:
            n *= d
        data_len = n * itemsize
    b = bytearray(max(hl, need))
    b[0:8] = magic
    struct.pack_into("<HHIQQQIIQQ", b, 8, major, minor, state, hl, data_len, 1 if named else 0,
                     len(shape) if ndim is None else ndim, len(dtype) if dtype_len is None else dtype_len,
                     itemsize, 1_700_000_000_000_000_000)
    struct.pack_into("<IxxxxQ", b, 64, 4242, 123456)
    at = SHAPE_AT
    for d in shape:
        struct.pack_into("<Q", b, at, d)
        at += 8
    for s in strides:
        struct.pack_into("<q", b, at, s)
        at += 8
    b[at:at + len(dtype)] = dtype
    return bytes(b), hl + data_len


def c_strides(shape, itemsize):
    out, step = [], itemsize
    for d in reversed(shape):
        out.append(step)
        step *= max(d, 1)
    return list(reversed(out))


def seeds():
    yield "c_f8_3x4", header([3, 4], c_strides([3, 4], 8), 8)
    yield "f_i4_2x3x4", header([2, 3, 4], [4, 8, 24], 4, b"<i4")
    yield "zero_d", header([], [], 8)
    yield "zero_size", header([0, 7], [56, 8], 8)
    yield "structured", header([5], [5], 5, b"[('a', '<i4'), ('b', '|u1')]")
    yield "named", header([16], [1], 1, b"|u1", named=True)
    yield "broadcast_stride0", header([3], [0], 8, data_len=8)
    yield "long_header", header([2], [8], 8, header_len=2 * ALIGN)
    yield "bytes_S10", header([2, 2], [20, 10], 10, b"|S10")
    yield "datetime", header([3], [8], 8, b"<M8[ns]")
    yield "bad_negative_stride", header([4], [-8], 8)
    yield "bad_stride_past_end", header([3, 4], [1 << 40, 8], 8)
    yield "bad_magic", header([1], [8], 8, magic=b"NOTSHARE")
    yield "bad_state_init", header([1], [8], 8, state=0)
    yield "bad_major", header([1], [8], 8, major=2)
    yield "bad_ndim", header([1], [8], 8, ndim=65)
    yield "bad_dtype_len", header([1], [8], 8, dtype_len=0xFFFFFFFF)
    hdr, _ = header([1], [8], 8, data_len=1 << 63)
    yield "bad_data_len", (hdr, ALIGN + 8)
    yield "bad_itemsize_lie", header([4], [8], 1 << 62, data_len=32)
    yield "bad_dtype_bytes", header([1], [8], 8, b"<f\xff")


def main() -> None:
    for target in ("header_decode", "segment_open"):
        (HERE / "corpus" / target).mkdir(parents=True, exist_ok=True)
    for name, (hdr, size) in seeds():
        decode_in = struct.pack("<Q", size) + hdr
        data_len = max(size - len(hdr), 0)
        open_in = bytes([0]) + hdr + b"\x5a" * min(data_len, 1 << 16)
        for target, blob in (("header_decode", decode_in), ("segment_open", open_in)):
            path = HERE / "corpus" / target / f"seed-{name}"
            path.write_bytes(blob)
    print("seeds written; sha1 of the header_decode set:",
          hashlib.sha1(b"".join(p.read_bytes() for p in sorted((HERE / "corpus/header_decode").glob("seed-*")))).hexdigest()[:12])


if __name__ == "__main__":
    main()
