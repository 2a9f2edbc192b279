"""Exact ground truth on a Dask cluster: the base is cut into shards that workers read from
the dataset file themselves (shared storage), each worker scans its shard for all queries, and
the client merges the candidates and re-scores them exactly in one pass over the file's blocks.

The shards are scanned with the same kernel as ``groundtruth.exact_knn``; the k best of each
shard, merged, are the k best of the whole base, and the exact re-scoring orders them the same
way, so the result equals the single-machine one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from annbench.errors import UserError


def _scan_shard(path: str, start: int, stop: int, metric: str, k: int, sample):
    """The shard's candidates and, per query, its sum of distances to the shard's (sampled)
    vectors: the relative contrast's mean comes from this same pass."""
    import h5py

    from annbench.datasets.groundtruth import scan

    with h5py.File(path, "r") as f:
        queries = np.asarray(f["test"][:], dtype=np.float32)
        sums = np.zeros(len(queries))
        shard_sample = None if sample is None else sample[start:stop]
        found = scan(
            _Shard(f["train"], start, stop),
            queries,
            metric,
            k,
            offset=start,
            progress=False,
            distance_sums=sums,
            sample=shard_sample,
        )
    return found, sums


class _Shard:
    """Rows ``start:stop`` of an HDF5 base, read a block at a time as ``scan`` slices them
    (the same block edges as a shard held in memory, so the same results)."""

    def __init__(self, dataset, start: int, stop: int) -> None:
        self.dataset, self.start, self.stop = dataset, start, stop
        self.shape = (stop - start, int(dataset.shape[1]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(len(self))
        return np.asarray(self.dataset[self.start + lo : self.start + hi], dtype=np.float32)


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous, nearly equal ranges covering range(n)."""
    edges = np.linspace(0, n, max(1, min(shards, n)) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def sharded_exact_knn(
    path: str | os.PathLike, client, k: int = 100, shards: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Exact top-k ids and distances for the dataset file at ``path``, computed on ``client``'s
    workers (which must see ``path``), with each query's mean distance to the base and the
    record of what that mean covers (see ``groundtruth.exact_knn_with_means``)."""
    import h5py

    from annbench.datasets.groundtruth import (
        mean_distance_sample,
        merge_scans,
        refine,
        sample_record,
    )
    from annbench.datasets.store import dataset_info

    path = str(Path(path).resolve())
    info = dataset_info(path)
    n, metric = info["n_base"], info["metric"]
    sample = mean_distance_sample(n, info["n_queries"], metric)
    if shards is None:
        shards = max(1, len(client.scheduler_info()["workers"]))
    futures = [
        client.submit(_scan_shard, path, start, stop, metric, k, sample, pure=False)
        for start, stop in shard_bounds(n, shards)
    ]
    scanned = client.gather(futures)
    candidates = merge_scans([found for found, _ in scanned], metric, k)
    record = sample_record(n, sample)
    means = sum(sums for _, sums in scanned) / record["rows"]
    with h5py.File(path, "r") as f:
        queries = np.asarray(f["test"][:], dtype=np.float32)
        # one sequential pass over the file's blocks (a point selection of the candidate
        # rows is far slower in h5py)
        ids, distances = refine(f["train"], queries, candidates, metric)
    if np.any(ids < 0):
        raise UserError("sharded ground truth found fewer neighbours than asked for")
    return ids, distances, means, record
