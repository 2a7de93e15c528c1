"""The two other workflows the sharedctypes tutorial names, on ndshare.

1. Children produce arrays that the parent collects: each worker of a pool
   creates a shared array and returns it; only a reference crosses.
2. A parent array processed in place by a pool of children: each worker gets
   a view of its block and writes into the parent's memory.
"""

import multiprocessing as mp

import numpy as np

import ndshare


def produce(stream: int) -> ndshare.SharedArray:
    rng = np.random.default_rng(stream)
    out = ndshare.empty((500, 500))
    out[:] = rng.standard_normal((500, 500))
    return out


def normalize_rows(block: ndshare.SharedArray) -> None:
    block -= block.mean(axis=1, keepdims=True)
    block /= block.std(axis=1, keepdims=True)


if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        # 1. fan-in: children create, the parent collects
        parts = pool.map(produce, range(4))
        print("collected", len(parts), "arrays:", [type(p).__name__ for p in parts], "shapes", {p.shape for p in parts})
        stacked = np.stack(parts)
        print("means of the collected arrays:", np.round(stacked.mean(axis=(1, 2)), 4))

        # 2. in place: the parent's array, processed block by block
        data = ndshare.array(np.random.default_rng(0).uniform(0, 100, (1000, 256)))
        blocks = [data[i : i + 250] for i in range(0, 1000, 250)]
        pool.map(normalize_rows, blocks)
        print(
            "after the pool: row means ~0:",
            bool(np.allclose(data.mean(axis=1), 0)),
            "row stds ~1:",
            bool(np.allclose(data.std(axis=1), 1)),
        )
