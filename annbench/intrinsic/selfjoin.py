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
3. Only the survivors get a full float32 distance (on the vectors as given when they are
   float32 and far from overflow, else on the rotated ones) and, if better, a place in the
   row's heap. The bound's rounding, and the rotation's (about 1e-7 of the norms), are
   covered by a margin of 1e-5 of the squared norms, so no true neighbour is pruned; each
   row's final k + SLACK candidates are re-scored in float64 on the original vectors at the
   end of its query block, while they are in cache, so float32 rounding can at most reorder
   near-ties beyond the k-th. (The kernel is compiled with fastmath, which may reorder the
   float64 sums: about 1e-16 relative, far inside the 1e-4 LID is held to.)

Memory: the join works in steps of at most STEP_ROWS rows and hands each step's distances
to the caller (``join_steps``), so pointwise LID keeps no (n, k) array. Besides the base it
holds one reordered copy of the vectors plus the leading axes twice (rows and tiles); the
PCA, the rotation and the k-means assignment go block by block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

TILE = 512  # base vectors per tile (the bound's columns)
QUERY_BLOCK = 256  # queries per parallel task (the bound's rows)
STEP_ROWS = 64 * QUERY_BLOCK  # rows per kernel call: bounds the (rows, k) output of a step
BLOCK_ROWS = 65_536  # rows per block while rotating and ordering the vectors
PREFIX_VARIANCE = 0.999
SLACK = 4  # candidates kept beyond k, for float32 near-ties
GEMM_MARGIN = 1e-5  # relative to |q|^2 + max |x|^2: far above float32 rounding of the GEMM
PADDING = 3e30  # |x|^2 of a tile's padding columns, far above any threshold
LARGEST_NORM = 1e20  # squared norms are scaled below this, far from the kernel's sentinels
KMEANS_SAMPLE = 64  # training vectors per k-means cell


@dataclass(frozen=True)
class _Prepared:
    """The arrays the kernel reads, rows in locality order; ``order[i]`` is row i's input row."""

    order: np.ndarray
    points: np.ndarray  # float32, for the join's full distances
    originals: np.ndarray  # the vectors as given (float32 or float64), for the re-score
    leading: np.ndarray
    tiles: np.ndarray
    tile_norms: np.ndarray
    residuals: np.ndarray
    centres: np.ndarray
    margins: np.ndarray


def self_join(
    base: np.ndarray, k: int, *, threads: int | None = None, progress: bool | None = None
) -> np.ndarray:
    """float64 distances (n, k), ascending, from each vector to its k nearest other vectors."""
    steps = join_steps(base, k, threads=threads, progress=progress)  # checks k and the values
    out = np.empty((len(base), k))
    for rows, distances in steps:
        out[rows] = distances
    return out


def join_steps(
    base: np.ndarray, k: int, *, threads: int | None = None, progress: bool | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The self-join in steps: (rows, distances), ``distances`` float64 (len(rows), k),
    ascending, from each input row in ``rows`` to its k nearest other vectors. Every row comes
    once; a step's arrays are the caller's to keep or drop."""
    n = len(base)
    if not 1 <= k < n:
        raise ValueError(f"need 1 <= k < n, got k={k}, n={n}")
    base = np.asarray(base)
    for start in range(0, n, BLOCK_ROWS):
        if not np.isfinite(base[start : start + BLOCK_ROWS]).all():
            raise ValueError("the vectors hold NaN or infinite values")
    return _steps(_prepare(base), k, threads, progress)


def _steps(
    prepared: _Prepared, k: int, threads: int | None, progress: bool | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    from threadpoolctl import ThreadpoolController
    from tqdm.auto import tqdm

    from annbench.intrinsic import _selfjoin_kernels as kernels

    n = len(prepared.order)
    keep = min(k + SLACK, n - 1)
    bar = tqdm(total=n, desc="exact self-join", unit="vector", disable=progress is False)
    pools = ThreadpoolController()  # found once; limited only while the kernel runs
    with bar:
        for start in range(0, n, STEP_ROWS):
            stop = min(n, start + STEP_ROWS)
            # single-threaded BLAS inside the kernel's tasks; the caller's code between steps
            # keeps its own settings
            with pools.limit(limits=1), _numba_threads(threads):
                distances = kernels.join(
                    prepared.points,
                    prepared.originals,
                    prepared.leading,
                    prepared.tiles,
                    prepared.tile_norms,
                    prepared.residuals,
                    prepared.centres,
                    prepared.margins,
                    keep,
                    k,
                    QUERY_BLOCK,
                    start,
                    stop,
                )
            if distances[:, 0].min() < 0:  # a row that came up short is -1 throughout
                raise RuntimeError("the self-join lost candidates: a seeded threshold was too low")
            yield prepared.order[start:stop], distances
            bar.update(stop - start)


def _prepare(base: np.ndarray) -> _Prepared:
    """Rotate onto the principal axes, order by k-means cell, and lay out the kernel's arrays,
    block by block (no float64 copy of a float32 base)."""
    from annbench.intrinsic.pca import components_for, principal_moments

    n, dim = base.shape
    exact = np.float32 if np.can_cast(base.dtype, np.float32, "safe") else np.float64
    mean, eigenvalues, axes = principal_moments(base)
    prefix = components_for(eigenvalues, PREFIX_VARIANCE)
    largest = 0.0  # the largest squared norm, centred and as given
    given = 0.0
    for start in range(0, n, BLOCK_ROWS):
        block = np.asarray(base[start : start + BLOCK_ROWS], dtype=np.float64)
        given = max(given, float(np.einsum("ij,ij->i", block, block).max()))
        block -= mean
        largest = max(largest, float(np.einsum("ij,ij->i", block, block).max()))
    scale = 1.0
    if largest > LARGEST_NORM:  # a power of two scales every distance exactly alike
        scale = float(2.0 ** -np.ceil(np.log2(largest / LARGEST_NORM) / 2))
    # The join's float32 distances may come from the vectors as given when they are float32
    # and small enough: then one reordered copy serves the join and the re-score.
    shared = exact is np.float32 and scale == 1.0 and 4 * given < LARGEST_NORM

    def rotate(rows: np.ndarray) -> np.ndarray:
        return (((np.asarray(rows, dtype=np.float64) - mean) @ axes) * scale).astype(np.float32)

    kmeans = _locality_cells(base, rotate, prefix)
    width = -(-prefix // 4) * 4  # whole groups of four
    leading = np.zeros((n, width), dtype=np.float32)  # in input order, until the gather
    residual = np.empty(n, dtype=np.float32)
    cells = np.zeros(n, dtype=np.int64)
    for start in range(0, n, BLOCK_ROWS):
        rotated = rotate(base[start : start + BLOCK_ROWS])
        stop = start + len(rotated)
        leading[start:stop, :prefix] = rotated[:, :prefix]
        rest = rotated[:, prefix:]
        residual[start:stop] = np.sqrt(np.einsum("ij,ij->i", rest, rest))
        if kmeans is not None:
            cells[start:stop] = kmeans.index.search(leading[start:stop, :prefix], 1)[1][:, 0]
    order = np.argsort(cells, kind="stable")
    del cells
    leading = leading[order]
    residual = residual[order]
    originals = np.empty((n, dim), dtype=exact)
    points = originals if shared else np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, BLOCK_ROWS):
        rows = base[order[start : start + BLOCK_ROWS]]
        originals[start : start + len(rows)] = rows
        if not shared:
            points[start : start + len(rows)] = rotate(rows)
    norms = np.einsum("ij,ij->i", leading, leading)
    return _Prepared(
        order=order,
        points=points,
        originals=originals,
        leading=leading,
        tiles=_tiles(leading),
        tile_norms=_by_tile(norms, PADDING),  # padding columns never beat a threshold
        residuals=_by_tile(residual, 0.0),
        centres=np.stack([leading[i : i + TILE].mean(axis=0) for i in range(0, n, TILE)]),
        margins=(GEMM_MARGIN * (norms + norms.max())).astype(np.float32),
    )


def _locality_cells(
    base: np.ndarray, rotate: Callable[[np.ndarray], np.ndarray], prefix: int
) -> Any:
    """k-means (faiss) over the leading axes with about one cell per tile, trained on a
    sample; None when one cell would do. Ordering vectors by cell keeps neighbours near."""
    import faiss

    n = len(base)
    cells = n // TILE
    if cells <= 1:
        return None
    size = min(n, KMEANS_SAMPLE * cells)
    sample = np.sort(np.random.default_rng(1234).choice(n, size=size, replace=False))
    kmeans = faiss.Kmeans(
        prefix, cells, niter=10, seed=1234, max_points_per_centroid=KMEANS_SAMPLE, verbose=False
    )
    kmeans.train(np.ascontiguousarray(rotate(base[sample])[:, :prefix]))
    return kmeans


def _tiles(leading: np.ndarray) -> np.ndarray:
    """Tiles (tiles, axes, TILE) of -2 x over the leading axes, by column; zero padding."""
    n, axes = leading.shape
    count = -(-n // TILE)
    extended = np.zeros((count, axes, TILE), dtype=np.float32)
    for t in range(count):
        part = leading[t * TILE : (t + 1) * TILE]
        extended[t, :, : len(part)] = -2.0 * part.T
    return extended


def _by_tile(values: np.ndarray, padding: float) -> np.ndarray:
    """float32 (tiles, TILE) of one value per vector, padding the last tile."""
    count = -(-len(values) // TILE)
    out = np.full(count * TILE, padding, dtype=np.float32)
    out[: len(values)] = values
    return out.reshape(count, TILE)


@contextmanager
def _numba_threads(threads: int | None) -> Iterator[None]:
    """numba's parallel loops run on ``threads`` threads (all when None) within the block,
    handing out one query block at a time: a thread that a busy machine slows takes fewer
    blocks instead of holding up the step."""
    import numba

    previous = numba.get_num_threads()
    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        with numba.parallel_chunksize(1):
            yield
    finally:
        numba.set_num_threads(previous)
