"""Exact k nearest *other* vectors of every vector of a set (a euclidean self-join).

Pointwise LID needs, for every vector, the distances to its k nearest neighbours in the same
set: n^2 distances, so the work is brute force; what this module saves is the k-selection,
which is where a general k-NN search spends most of its time at k = 100. Exact throughout:

1. The data is centred and rotated onto its principal axes, which keeps every distance. The
   squared distance over the leading ``prefix`` axes (99.9% of the variance) is a lower bound
   on the full one. A fused float32 kernel computes it for four queries against a tile,
   four axes per pass, and sums each row's shortfall below its limit in the same pass.
2. Vectors are ordered by k-means cell, and each block of queries visits the tiles nearest
   its centre first. Each row's threshold starts at the keep-th smallest upper bound over
   the two nearest tiles (the prefix bound plus the most the other axes can add), so few
   candidates ever enter its heap; a row skips a tile when no lower bound beats it.
3. Only the survivors get a full float32 distance and, if better, a place in the row's heap.
   The bound's rounding is covered by a margin, so no true neighbour is pruned by it; the
   final k + SLACK candidates are re-scored in float64 on the original vectors, so float32
   rounding can at most reorder near-ties beyond the k-th.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

TILE = 512  # base vectors per tile (the bound's columns)
QUERY_BLOCK = 256  # queries per parallel task (the bound's rows)
PREFIX_VARIANCE = 0.999
SLACK = 4  # candidates kept beyond k, for float32 near-ties
GEMM_MARGIN = 1e-5  # relative to |q|^2 + max |x|^2: far above float32 rounding of the GEMM
PADDING = 3e30  # |x|^2 of a tile's padding columns, far above any threshold
LARGEST_NORM = 1e20  # squared norms are scaled below this, far from the kernel's sentinels
PROGRESS_STEPS = 20  # calls of the kernel, for the progress bar


def self_join(
    base: np.ndarray, k: int, *, threads: int | None = None, progress: bool | None = None
) -> np.ndarray:
    """float64 distances (n, k), ascending, from each vector to its k nearest other vectors."""
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    from annbench.intrinsic import _selfjoin_kernels as kernels

    n = len(base)
    if not 1 <= k < n:
        raise ValueError(f"need 1 <= k < n, got k={k}, n={n}")
    original = np.ascontiguousarray(base, dtype=np.float64)
    if not np.isfinite(original).all():
        raise ValueError("the vectors hold NaN or infinite values")
    keep = min(k + SLACK, n - 1)
    rotated, prefix = _principal_coordinates(original)
    order = _locality_order(np.ascontiguousarray(rotated[:, :prefix]))
    ordered = np.ascontiguousarray(rotated[order])
    leading = np.zeros((n, -(-prefix // 4) * 4), dtype=np.float32)  # whole groups of four
    leading[:, :prefix] = ordered[:, :prefix]
    norms = np.einsum("ij,ij->i", leading, leading)
    margins = (GEMM_MARGIN * (norms + norms.max())).astype(np.float32)
    tiles = _tiles(leading)
    tile_norms = _by_tile(norms, PADDING)  # padding columns never beat a threshold
    rest = ordered[:, prefix:]
    residuals = _by_tile(np.sqrt(np.einsum("ij,ij->i", rest, rest)), 0.0)
    centres = np.stack([leading[i : i + TILE].mean(axis=0) for i in range(0, n, TILE)])
    step = max(QUERY_BLOCK, -(-n // PROGRESS_STEPS // QUERY_BLOCK) * QUERY_BLOCK)
    candidates = np.empty((n, keep), dtype=np.int64)
    bar = tqdm(total=n, desc="exact self-join", unit="vector", disable=progress is False)
    with bar, threadpool_limits(1), _numba_threads(threads):  # single-threaded BLAS per task
        for start in range(0, n, step):
            stop = min(n, start + step)
            candidates[start:stop] = kernels.join(
                ordered,
                leading,
                tiles,
                tile_norms,
                residuals,
                centres,
                margins,
                keep,
                QUERY_BLOCK,
                start,
                stop,
            )
            bar.update(stop - start)
    if candidates[:, 0].min() < 0:  # a row that came up short is -1 throughout
        raise RuntimeError("the self-join lost candidates: a seeded threshold was too low")
    return kernels.rescore(np.ascontiguousarray(original[order]), order, candidates, k)


def _principal_coordinates(points: np.ndarray) -> tuple[np.ndarray, int]:
    """float32 coordinates on the principal axes (largest variance first), scaled by a power
    of two if need be, and the number of leading axes that hold PREFIX_VARIANCE of it."""
    from annbench.intrinsic.pca import components_for, principal_axes

    centred, eigenvalues, axes = principal_axes(points)
    rotated = centred @ axes
    largest = float(np.einsum("ij,ij->i", rotated, rotated).max())
    if largest > LARGEST_NORM:  # a power of two scales every distance exactly alike
        rotated *= 2.0 ** -np.ceil(np.log2(largest / LARGEST_NORM) / 2)
    return rotated.astype(np.float32), components_for(eigenvalues, PREFIX_VARIANCE)


def _locality_order(points: np.ndarray) -> np.ndarray:
    """A permutation grouping vectors by k-means cell (about one cell per tile)."""
    import faiss

    cells = len(points) // TILE
    if cells <= 1:
        return np.arange(len(points))
    kmeans = faiss.Kmeans(
        points.shape[1], cells, niter=10, seed=1234, max_points_per_centroid=64, verbose=False
    )
    kmeans.train(points)  # on a sample of 64 per cell: the order only needs to be local
    _, assignment = kmeans.index.search(points, 1)
    return np.argsort(assignment[:, 0], kind="stable")


def _tiles(leading: np.ndarray) -> np.ndarray:
    """Tiles (tiles, axes, TILE) of -2 x over the leading axes, by column; zero padding."""
    n, axes = leading.shape
    count = -(-n // TILE)
    extended = np.zeros((count * TILE, axes), dtype=np.float32)
    extended[:n] = -2.0 * leading
    return np.ascontiguousarray(extended.reshape(count, TILE, axes).transpose(0, 2, 1))


def _by_tile(values: np.ndarray, padding: float) -> np.ndarray:
    """float32 (tiles, TILE) of one value per vector, padding the last tile."""
    count = -(-len(values) // TILE)
    out = np.full(count * TILE, padding, dtype=np.float32)
    out[: len(values)] = values
    return out.reshape(count, TILE)


@contextmanager
def _numba_threads(threads: int | None) -> Iterator[None]:
    """numba's parallel loops run on ``threads`` threads (all when None) within the block."""
    import numba

    previous = numba.get_num_threads()
    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
