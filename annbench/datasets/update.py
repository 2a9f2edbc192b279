"""Rewrite an existing dataset file in bounded memory, with some of its arrays replaced or
computed: ground truth (exact top-k from the file's blocks, or given), the per-query measures,
the pointwise LID, the provenance.

The base is copied block by block as float32 (a foreign float64 file is converted on the way),
every other array and the filter attributes and workloads are carried over, and the new file
replaces the old one atomically. What is stored equals what ``load_dataset`` followed by
``write_dataset`` stored: the same types, attributes and content hash.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annbench.errors import UserError
from annbench.errors.files import atomic_path


@dataclass
class GivenGroundTruth:
    """Ground truth computed elsewhere (a cluster), with the queries' mean distances."""

    neighbors: np.ndarray
    distances: np.ndarray
    means: np.ndarray
    record: dict[str, Any]


def update_dataset(
    path: str | os.PathLike,
    *,
    k: int | None = None,
    ground_truth: GivenGroundTruth | None = None,
    measures: bool = False,
    source: dict[str, Any] | None = None,
    lid: np.ndarray | None = None,
    intrinsic: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> Path:
    """Rewrite the dataset file at ``path`` without holding its base in memory.

    ``k``: compute exact top-k ground truth and the per-query measures from the file's blocks;
    ``ground_truth``: store the given one and compute the measures from it; ``measures``:
    recompute the measures from the stored ground truth. ``source``, ``lid`` and
    ``intrinsic`` replace the stored ones. Everything not named is kept."""
    from annbench.datasets.file_measures import CovarianceSample
    from annbench.datasets.filter_layout import read_attributes, read_workload, workload_names
    from annbench.datasets.store import WRITE_ROWS, checked_metric, open_dataset
    from annbench.datasets.writer import DatasetWriter

    path = Path(path)
    with open_dataset(path) as f:
        metric = checked_metric(f, path)
        train, test = f["train"], f["test"]
        n, dim = (int(x) for x in train.shape)
        n_queries = int(test.shape[0])
        stored_gt = "neighbors" in f
        if k is None and ground_truth is None and not stored_gt:
            raise UserError(f"refusing to write {path} without ground truth")
        if source is None:
            source = json.loads(f.attrs.get("annbench_source", "{}"))
        if intrinsic is None:
            intrinsic = json.loads(f.attrs.get("annbench_intrinsic", "{}"))
        kept = CovarianceSample((n, dim))
        with atomic_path(path) as tmp:
            writer = DatasetWriter(
                tmp, n=n, n_queries=n_queries, dim=dim, metric=metric, source=source
            )
            try:
                for start in range(0, n, WRITE_ROWS):
                    block = np.ascontiguousarray(train[start : start + WRITE_ROWS], np.float32)
                    kept.add(start, block)
                    writer.append_base(block)
                queries = writer.set_queries(test[:])
                _write_ground_truth(
                    f, writer, queries, metric, kept, k, ground_truth, measures, progress
                )
                for name, values in _optional_arrays(f, n, n_queries, lid):
                    writer.put(name, *values)
                writer.close(
                    intrinsic,
                    read_attributes(f, n),
                    {name: read_workload(f, name, path) for name in workload_names(f)},
                )
            except BaseException:
                writer.abort()
                raise
    return path


def _write_ground_truth(f, writer, queries, metric, kept, k, given, measures, progress) -> None:
    from annbench.datasets.file_measures import put_ground_truth, put_measures
    from annbench.datasets.groundtruth import mean_distances
    from annbench.datasets.store import read_measures_info, read_query_measures

    if k is not None:
        put_ground_truth(writer, queries, metric, k, kept, progress)
        return
    if given is not None:
        neighbors, distances = given.neighbors, given.distances
        means, record = given.means, given.record
    else:
        neighbors, distances = f["neighbors"][:], f["distances"][:]
        if measures:
            means, record = mean_distances(writer.train, queries, metric, progress=progress)
    neighbors = np.asarray(neighbors, dtype=np.int64)
    distances = np.asarray(distances, dtype=np.float32)
    writer.put("neighbors", neighbors, np.int64)
    writer.put("distances", distances, np.float32)
    if given is not None or measures:
        put_measures(writer, queries, metric, kept, distances, means, record)
        return
    stored = read_query_measures(f)
    if stored:
        writer.put_measures(stored, read_measures_info(f))


def _optional_arrays(f, n: int, n_queries: int, lid):
    """(name, (values, dtype)) for each optional array to keep, checked as ``Dataset`` checks
    them on loading."""
    from annbench.datasets.store import OPTIONAL_ARRAYS

    lengths = {"labels": n, "lid": n, "query_labels": n_queries, "query_parents": n_queries}
    for name, dtype in OPTIONAL_ARRAYS.items():
        values = lid if name == "lid" and lid is not None else None
        if values is None and name in f:
            values = np.asarray(f[name][:])
        if values is None:
            continue
        if values.shape != (lengths[name],):
            if name.startswith("query_"):
                raise UserError(f"{name} must hold one entry per query ({n_queries})")
            raise UserError(
                f"{name} must hold one entry per base vector ({n}), got shape {values.shape}"
            )
        yield name, (values, dtype)
