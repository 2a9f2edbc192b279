"""Exact k-nearest-neighbour ground truth in bounded memory.

The base is scanned in blocks with faiss's brute-force kernel (the one ``IndexFlat`` uses,
called on the caller's arrays so the base is never copied whole), each block's top-k is merged
into one heap per query, and the winners' distances are then recomputed exactly in float64 and
re-sorted by (distance, id), so ties are broken the same way on every machine.

Extra memory beyond the base itself: one block (only when the block must be converted or
normalised), faiss's scratch buffers, and the (nq, k) result.
"""

from __future__ import annotations

import numpy as np

from annbench.errors import UserError

BLOCK_BYTES = 64 << 20
REFINE_QUERIES = 256


def _block_rows(dimension: int) -> int:
    return max(1024, BLOCK_BYTES // (4 * max(dimension, 1)))


def _as_float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def normalized(array: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    array = np.asarray(array, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.ascontiguousarray(array / np.where(norms > 0, norms, 1), dtype=np.float32)


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
) -> tuple[np.ndarray, np.ndarray]:
    """faiss scores and ids (plus ``offset``) of each query's k best base vectors, unordered.

    Scores are squared L2 for euclidean (smaller is closer) and inner products otherwise
    (larger is closer); ``merge_scans`` combines scans of disjoint parts of a base.
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
    starts = range(0, n, rows)
    for start in tqdm(starts, desc="exact k-NN", unit="block", disable=progress is False):
        block = base[start : start + rows]
        block = normalized(block) if metric == "angular" else _as_float32(block)
        scores, ids = faiss.knn(query_block, block, min(k, len(block)), metric=faiss_metric)
        heap.add_result(scores, ids + start + offset)
    heap.finalize()
    return heap.D, heap.I


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

    codes = {"euclidean": 0, "ip": 1, "angular": 2}
    ids = np.asarray(ids, dtype=np.int64)
    distances = pair_distances(
        np.ascontiguousarray(base), np.ascontiguousarray(queries), ids, codes[metric]
    )
    order = np.lexsort((ids, distances), axis=1)
    sorted_ids = np.take_along_axis(ids, order, axis=1)
    sorted_distances = np.take_along_axis(distances, order, axis=1)
    return sorted_ids.astype(np.int64), sorted_distances.astype(np.float32)


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
    """The dataset with exact top-``k`` neighbours and distances filled in."""
    dataset.neighbors, dataset.distances = exact_knn(
        dataset.base, dataset.queries, dataset.metric, k, progress=progress
    )
    dataset.check()
    return dataset


def save_with_ground_truth(
    dataset, path, *, k: int = 100, overwrite: bool = False, progress: bool | None = None
):
    """Compute ground truth if missing and write the dataset file; return its path."""
    from pathlib import Path

    from annbench.datasets.store import write_dataset

    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --force to replace it")
    if dataset.neighbors is None:
        with_ground_truth(dataset, k, progress=progress)
    write_dataset(path, dataset, overwrite=overwrite)
    return path
