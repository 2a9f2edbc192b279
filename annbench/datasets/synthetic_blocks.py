"""The block-by-block machinery of the synthetic generators (``synthetic``): the serial
random stream drawn on one thread while each block is finished on another, the latent and
noise streams of subspace and manifold stepped together, and the split into base and
queries. Every block holds exactly the values the whole-array draw would give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np


def blobs_noise(
    rng: np.random.Generator, n: int, dim: int, rows: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(start, standard normal float64 draws) per block of the base, in two alternating
    buffers (the one handed out is finished while the next is drawn)."""
    buffers = [np.empty((min(rows, n), dim)) for _ in range(2 if n > rows else 1)]
    for i, start in enumerate(range(0, n, rows)):
        draws = buffers[i % len(buffers)][: min(rows, n - start)]
        rng.standard_normal(out=draws)
        yield start, draws


def blob_block(
    centers: np.ndarray, labels: np.ndarray, draws: np.ndarray, scale: float
) -> np.ndarray:
    """centers[labels] + rng.normal(0.0, scale, draws.shape).astype(np.float32), given the
    standard normal ``draws``. numpy draws each normal as 0.0 + scale * draw; adding 0.0 only
    turns -0.0 into +0.0, which cannot change centre + noise, as no centre is -0.0 (each is
    0.0 + spread * draw too), so the product is rounded to float32 directly."""
    noise = np.multiply(draws, scale, out=np.empty(draws.shape, np.float32), casting="same_kind")
    block = centers[labels]
    block += noise
    return block


def finished_aside(drawn: Iterator, finish: Callable[..., np.ndarray]) -> Iterator[np.ndarray]:
    """finish(*item) for each item of ``drawn``, each finished on a helper thread
    while the next is drawn (numpy releases the GIL for both), so the serial random stream
    waits for nothing else; at most one item is drawn ahead."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="annbench-finish") as pool:
        pending = None
        for item in drawn:
            if pending is not None:
                yield pending.result()
            pending = pool.submit(finish, *item)
        if pending is not None:
            yield pending.result()


def latent_blocks(
    rng: np.random.Generator, total: int, d_int: int, dim: int, noise: float, rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(latent rows, their noise or None) per block of ``total`` rows, drawn as the whole
    arrays would be: every (total, d_int) latent first, then the (total, dim) noise.

    With noise, the latents come from a copy of ``rng`` taken now, and ``rng`` itself is
    first advanced past them (drawn and discarded in blocks), so the two streams then step
    together block by block. No block has a single row: numpy may compute a (1, K) @ (K, N)
    product as a matrix-vector product, which rounds differently.
    """
    import copy

    edges = list(range(0, total, rows)) + [total]
    if len(edges) > 2 and edges[-1] - edges[-2] == 1:
        del edges[-2]
    latent_rng = copy.deepcopy(rng) if noise else rng
    if noise:
        scratch = np.empty((min(rows, total), d_int))
        for start in range(0, total, rows):
            rng.standard_normal(out=scratch[: min(rows, total - start)])
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        latent = latent_rng.standard_normal((stop - start, d_int))
        lifted = rng.normal(0.0, noise, size=(stop - start, dim)) if noise else None
        yield latent, lifted


def split_queries(blocks: Iterable[np.ndarray], n: int) -> Iterator[tuple[str, np.ndarray]]:
    """("base", rows) while the rows are the base's first ``n``, then ("queries", the rest)."""
    done, queries = 0, []
    for block in blocks:
        cut = min(max(n - done, 0), len(block))
        if cut:
            yield "base", block[:cut]
        if cut < len(block):
            queries.append(block[cut:])
        done += len(block)
    yield "queries", queries[0] if len(queries) == 1 else np.concatenate(queries)
