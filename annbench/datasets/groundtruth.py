"""Exact k-nearest-neighbour ground truth in bounded memory.

The base is scanned in blocks with faiss's brute-force kernel (the one ``IndexFlat`` uses,
called on the caller's arrays so the base is never copied whole), each block's top-k is merged
into one heap per query, and the winners' distances are then recomputed exactly in float64 and
re-sorted by (distance, id), so ties are broken the same way on every machine.

Extra memory beyond the base itself: one block (only when the block must be converted or
normalised), faiss's scratch buffers, and the (nq, k) result.
"""

from __future__ import annotations

import os

import numpy as np

from annbench.datasets.vectors import as_float32 as _as_float32
from annbench.datasets.vectors import normalized
from annbench.errors import UserError

__all__ = ["exact_knn", "normalized", "save_with_ground_truth", "with_ground_truth"]

BLOCK_BYTES = 64 << 20  # scan blocks: their edges decide tie-breaking and the sums' order
REFINE_BLOCK_BYTES = 64 << 20  # base read per step when refining from a file (any size)
REFINE_QUERIES = 256


def _block_rows(dimension: int) -> int:
    return max(1024, BLOCK_BYTES // (4 * max(dimension, 1)))


def exact_knn(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    *,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k ids (int64) and distances (float32) of every query.

    Distances follow the dataset-file convention: L2 for euclidean, 1 - cos for angular,
    -<q, x> for ip. ``k`` is clipped to the base size.
    """
    ids = candidate_ids(base, queries, metric, k, progress=progress)
    return refine(base, queries, ids, metric)


def exact_knn_with_means(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    *,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """``exact_knn`` plus each query's mean distance to the base, from the same pass over
    the base, and a record of which base vectors that mean covers."""
    sample = mean_distance_sample(len(base), len(queries), metric)
    sums = np.zeros(len(queries))
    _, candidates = scan(
        base, queries, metric, k, progress=progress, distance_sums=sums, sample=sample
    )
    ids, distances = refine(base, queries, candidates, metric)
    record = sample_record(len(base), sample)
    return ids, distances, sums / record["rows"], record


def mean_distances(
    base: np.ndarray, queries: np.ndarray, metric: str, *, progress: bool | None = None
) -> tuple[np.ndarray, dict]:
    """Each query's mean distance to the base (for files whose ground truth came ready-made)."""
    from tqdm.auto import tqdm

    sample = mean_distance_sample(len(base), len(queries), metric)
    query_block = normalized(queries) if metric == "angular" else _as_float32(queries)
    sums = np.zeros(len(queries))
    rows = _block_rows(base.shape[1])
    for start in tqdm(
        range(0, len(base), rows), desc="mean distance", unit="block", disable=progress is False
    ):
        block = base[start : start + rows]
        if sample is not None:
            block = block[sample[start : start + rows]]
        block = normalized(block) if metric == "angular" else _as_float32(block)
        sums += block_distance_sums(query_block, block, metric)
    record = sample_record(len(base), sample)
    return sums / record["rows"], record


def candidate_ids(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    *,
    progress: bool | None = None,
) -> np.ndarray:
    """The ids of each query's k nearest base vectors by faiss's float32 kernel, unordered."""
    return scan(base, queries, metric, k, progress=progress)[1]


def scan(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    *,
    offset: int = 0,
    progress: bool | None = None,
    distance_sums: np.ndarray | None = None,
    sample: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """faiss scores and ids (plus ``offset``) of each query's k best base vectors, unordered.

    Scores are squared L2 for euclidean (smaller is closer) and inner products otherwise
    (larger is closer); ``merge_scans`` combines scans of disjoint parts of a base.

    With ``distance_sums`` (float64, one per query) each query's distances, in the dataset's
    metric, to the scanned base vectors (those ``sample`` marks, if given) are added to it in
    the same pass, for the mean distance that relative contrast needs.
    """
    import faiss
    from tqdm.auto import tqdm

    if metric not in ("euclidean", "angular", "ip"):
        raise UserError(f"unsupported metric {metric!r} for ground truth")
    n = len(base)
    k = min(k, n)
    if k < 1:
        raise UserError("ground truth needs k >= 1 and a non-empty base")
    faiss_metric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    query_block = normalized(queries) if metric == "angular" else _as_float32(queries)
    heap = faiss.ResultHeap(len(queries), k, keep_max=metric != "euclidean")
    rows = _block_rows(base.shape[1])
    blocks = _read_ahead(base, rows, metric)
    bar = tqdm(total=-(-n // rows), desc="exact k-NN", unit="block", disable=progress is False)
    for start, block in blocks:
        bar.update()
        scores, ids = faiss.knn(query_block, block, min(k, len(block)), metric=faiss_metric)
        heap.add_result(scores, ids + start + offset)
        if distance_sums is not None:
            chosen = block if sample is None else block[sample[start : start + rows]]
            distance_sums += block_distance_sums(query_block, chosen, metric)
    bar.close()
    heap.finalize()
    return heap.D, heap.I


def _read_ahead(base, rows: int, metric: str):
    """(start, block as the metric sees it) for each block of ``base``; a file's next block
    is read on a helper thread while the caller scores this one (faiss releases the GIL)."""

    def read(start: int) -> np.ndarray:
        block = base[start : start + rows]
        return normalized(block) if metric == "angular" else _as_float32(block)

    yield from _blocks_ahead(base, range(0, len(base), rows), read)


def _blocks_ahead(base, starts, read):
    """(start, read(start)) for each of ``starts``; for a file (not an in-memory array) the
    next block is read on a helper thread while the caller works on this one."""
    from concurrent.futures import ThreadPoolExecutor

    if isinstance(base, np.ndarray):
        yield from ((start, read(start)) for start in starts)
        return
    if not starts:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="annbench-read") as pool:
        pending = pool.submit(read, starts[0])
        for i, start in enumerate(starts):
            block = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(read, starts[i + 1])
            yield start, block


PAIR_BLOCK = 1 << 24  # query x base distances held at once for the euclidean sums
# beyond this many pairs the euclidean mean is sampled (2e8: at 10k queries a 20k-row sample,
# a relative standard error near 0.1%, and about 2% of the ground-truth scan's work)
MEAN_PAIR_BUDGET = 200_000_000
MEAN_SAMPLE_SEED = 0


def block_distance_sums(queries: np.ndarray, block: np.ndarray, metric: str) -> np.ndarray:
    """Per query, the sum of its distances to the rows of ``block`` (queries and block already
    normalised for angular). angular and ip sums follow from the block's column sum; the
    euclidean one needs every pair (faiss's BLAS kernel, in query slices)."""
    import faiss

    if len(block) == 0:
        return np.zeros(len(queries))
    column_sum = block.sum(axis=0, dtype=np.float64)
    if metric == "angular":
        return len(block) - queries.astype(np.float64) @ column_sum
    if metric == "ip":
        return -(queries.astype(np.float64) @ column_sum)
    sums = np.empty(len(queries))
    step = max(1, PAIR_BLOCK // len(block))
    for start in range(0, len(queries), step):
        squared = faiss.pairwise_distances(queries[start : start + step], block)
        _sqrt_row_sums(squared, sums[start : start + step])
    return sums


def _sqrt_row_sums(squared: np.ndarray, out: np.ndarray) -> None:
    """out[i] = sum of sqrt(max(squared[i], 0)) (float32 roots, float64 sum), in place and
    on threads over rows: each row reduces exactly as a whole-array call would."""
    from concurrent.futures import ThreadPoolExecutor

    def rows(lo: int, hi: int) -> None:
        part = squared[lo:hi]
        np.maximum(part, 0, out=part)
        np.sqrt(part, out=part)
        out[lo:hi] = part.sum(axis=1, dtype=np.float64)

    threads = min(os.cpu_count() or 1, max(1, len(squared) // 8))
    edges = np.linspace(0, len(squared), threads + 1).astype(int)
    if threads == 1:
        rows(0, len(squared))
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(rows, edges[:-1], edges[1:]))


def mean_distance_sample(n: int, n_queries: int, metric: str) -> np.ndarray | None:
    """Which base vectors the mean distance runs over: all (None) unless the metric is
    euclidean and n x n_queries exceeds ``MEAN_PAIR_BUDGET``; then a seeded uniform sample."""
    if metric != "euclidean" or n * n_queries <= MEAN_PAIR_BUDGET:
        return None
    rows = max(1, MEAN_PAIR_BUDGET // n_queries)
    chosen = np.random.default_rng(MEAN_SAMPLE_SEED).choice(n, size=rows, replace=False)
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return mask


def sample_record(n: int, sample: np.ndarray | None) -> dict:
    """How the mean distance was taken, for the dataset file's provenance."""
    if sample is None:
        return {"mean_distance_over": "all", "rows": int(n)}
    return {
        "mean_distance_over": "sample",
        "rows": int(sample.sum()),
        "of": int(n),
        "seed": MEAN_SAMPLE_SEED,
    }


def merge_scans(scans: list[tuple[np.ndarray, np.ndarray]], metric: str, k: int) -> np.ndarray:
    """The k best ids per query over several scans (in the order given), unordered."""
    import faiss

    n_queries = len(scans[0][0])
    k = min(k, sum(scores.shape[1] for scores, _ in scans))
    heap = faiss.ResultHeap(n_queries, k, keep_max=metric != "euclidean")
    for scores, ids in scans:
        heap.add_result(scores, ids)
    heap.finalize()
    return heap.I


def refine(
    base: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the distances of candidate ``ids`` exactly (float64, in one compiled pass)
    and sort each row by (distance, id)."""
    from annbench.datasets._distance_kernels import pair_distances

    ids = np.asarray(ids, dtype=np.int64)
    if isinstance(base, np.ndarray):
        distances = pair_distances(
            np.ascontiguousarray(base), np.ascontiguousarray(queries), ids, METRIC_CODES[metric]
        )
    else:
        distances = _pair_distances_blocks(base, np.ascontiguousarray(queries), ids, metric)
    order = np.lexsort((ids, distances), axis=1)
    sorted_ids = np.take_along_axis(ids, order, axis=1)
    sorted_distances = np.take_along_axis(distances, order, axis=1)
    return sorted_ids.astype(np.int64), sorted_distances.astype(np.float32)


METRIC_CODES = {"euclidean": 0, "ip": 1, "angular": 2}


def _pair_distances_blocks(base, queries: np.ndarray, ids: np.ndarray, metric: str) -> np.ndarray:
    """``pair_distances`` for a base read in blocks (an HDF5 dataset): one sequential pass,
    the (query, id) pairs sorted by id so each block scores the pairs that fall in it."""
    from annbench.datasets._distance_kernels import pair_distances_rows

    flat = ids.ravel()
    out = np.full(flat.shape, np.inf)
    valid = np.flatnonzero(flat >= 0)
    order = valid[np.argsort(flat[valid], kind="stable")]
    sorted_ids = flat[order]
    query_of = order // max(ids.shape[1], 1)
    rows = max(1, REFINE_BLOCK_BYTES // (4 * max(base.shape[1], 1)))
    edges = np.searchsorted(sorted_ids, np.arange(0, len(base) + rows, rows))
    needed = [i * rows for i in np.flatnonzero(edges[1:] > edges[:-1]).tolist()]

    def read(start: int) -> np.ndarray:
        return np.ascontiguousarray(base[start : start + rows], dtype=np.float32)

    for start, block in _blocks_ahead(base, needed, read):
        lo, hi = edges[start // rows], edges[start // rows + 1]
        values = np.empty(hi - lo)
        pair_distances_rows(
            block, start, queries, query_of[lo:hi], sorted_ids[lo:hi], METRIC_CODES[metric], values
        )
        out[order[lo:hi]] = values
    return out.reshape(ids.shape)


def exact_distances(
    base: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str
) -> np.ndarray:
    """float64 distances between each query and the base vectors it names; +inf where id < 0."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.full(ids.shape, np.inf, dtype=np.float64)
    valid = (ids >= 0) & (ids < len(base))
    for start in range(0, len(queries), REFINE_QUERIES):
        stop = start + REFINE_QUERIES
        q = np.asarray(queries[start:stop], dtype=np.float64)
        chunk_ids = ids[start:stop]
        chunk_valid = valid[start:stop]
        x = np.asarray(base[np.where(chunk_valid, chunk_ids, 0)], dtype=np.float64)
        out[start:stop] = np.where(chunk_valid, _pair_distance(q[:, None, :], x, metric), np.inf)
    return out


def _pair_distance(q: np.ndarray, x: np.ndarray, metric: str) -> np.ndarray:
    if metric == "euclidean":
        return np.sqrt(np.sum((x - q) ** 2, axis=-1))
    dots = np.sum(x * q, axis=-1)
    if metric == "ip":
        return -dots
    norms = np.linalg.norm(x, axis=-1) * np.linalg.norm(q, axis=-1)
    return 1.0 - dots / np.where(norms > 0, norms, 1.0)


def with_ground_truth(dataset, k: int = 100, *, progress: bool | None = None):
    """The dataset with exact top-``k`` neighbours and distances filled in, and the
    per-query difficulty measures they allow."""
    from annbench.datasets.query_measures import attach_measures

    ids, distances, means, record = exact_knn_with_means(
        dataset.base, dataset.queries, dataset.metric, k, progress=progress
    )
    dataset.neighbors, dataset.distances = ids, distances
    attach_measures(dataset, means, record)
    dataset.check()
    return dataset


def save_with_ground_truth(
    dataset, path, *, k: int = 100, overwrite: bool = False, progress: bool | None = None
):
    """Compute ground truth (and the per-query measures) if missing and write the dataset
    file; return its path."""
    from pathlib import Path

    from annbench.datasets.store import write_dataset

    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --force to replace it")
    if dataset.neighbors is None:
        with_ground_truth(dataset, k, progress=progress)
    elif not dataset.query_measures:  # ground truth given (imported): measures from it
        from annbench.datasets.query_measures import attach_measures

        means, record = mean_distances(
            dataset.base, dataset.queries, dataset.metric, progress=progress
        )
        attach_measures(dataset, means, record)
    write_dataset(path, dataset, overwrite=overwrite)
    return path
