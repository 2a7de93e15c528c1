"""Rust and Python share one float32 image stack, in both directions.

1. A Rust program creates a named stack; this script attaches it, normalizes
   every frame to [0, 1] in place with numpy; the Rust program checks the
   result in the same memory.
2. This script creates a stack and an array for the results; the Rust
   program attaches both, writes each frame's mean and subtracts it in place;
   this script checks with numpy.

No pixel is copied between the processes. Run from the repository root:

    cargo build --release --example image_stack
    python examples/rust_python.py
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import uuid

import numpy as np

import ndshare

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_BIN = ROOT / "target" / "release" / "examples" / "image_stack"


def run(binary: pathlib.Path, *args: str) -> None:
    """Runs the Rust program; its output goes straight to ours."""
    sys.stdout.flush()
    subprocess.run([str(binary), *args], check=True, timeout=120)


def rust_creates_python_processes(binary: pathlib.Path, frames: int, height: int, width: int) -> None:
    name = f"example-rust-stack-{uuid.uuid4().hex[:8]}"
    run(binary, "create", name, str(frames), str(height), str(width))
    try:
        stack = ndshare.attach(name)
        assert stack.dtype == np.float32 and stack.shape == (frames, height, width)
        lo = stack.min(axis=(1, 2), keepdims=True)
        hi = stack.max(axis=(1, 2), keepdims=True)
        np.subtract(stack, lo, out=stack)
        np.divide(stack, hi - lo, out=stack)
        print(
            f"python: normalized {name!r} in place, {stack.nbytes / 2**20:.1f} MiB, frame maxima {stack.max(axis=(1, 2))[:3]}..."
        )
        run(binary, "check", name)
    finally:
        ndshare.unlink(name)


def python_creates_rust_processes(binary: pathlib.Path, frames: int, height: int, width: int, order: str) -> None:
    tag = uuid.uuid4().hex[:8]
    rng = np.random.default_rng(7)
    images = rng.normal(100.0, 15.0, (frames, height, width)).astype(np.float32)
    stack = ndshare.array(images, order=order, name=f"example-py-stack-{tag}")
    means = ndshare.zeros(frames, dtype=np.float64, name=f"example-py-means-{tag}")
    try:
        print(f"python: created {stack.name!r} ({order} order) and {means.name!r}")
        run(binary, "process", stack.name, means.name)  # type: ignore[arg-type]
        want = images.astype(np.float64).mean(axis=(1, 2))
        np.testing.assert_allclose(means, want, rtol=1e-12)
        np.testing.assert_allclose(stack, images - want[:, None, None].astype(np.float32), atol=1e-3)
        print(f"python: Rust's means match numpy's ({means[:3]}...), and the stack is background-subtracted")
    finally:
        ndshare.unlink(stack.name)  # type: ignore[arg-type]
        ndshare.unlink(means.name)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--bin",
        type=pathlib.Path,
        default=pathlib.Path(os.environ.get("NDSHARE_IMAGE_STACK", DEFAULT_BIN)),
        help="the image_stack example program (default: %(default)s)",
    )
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="height and width of a frame")
    args = parser.parse_args()
    if not args.bin.exists():
        sys.exit(f"{args.bin} not found: build it with `cargo build --release --example image_stack`")
    rust_creates_python_processes(args.bin, args.frames, args.size, args.size)
    for order in ("C", "F"):
        python_creates_rust_processes(args.bin, args.frames, args.size, args.size, order)
    print("rust <-> python: ok")


if __name__ == "__main__":
    main()
