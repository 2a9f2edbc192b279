"""Ground truth and the per-query measures of a dataset file being written
(``writer.DatasetWriter``), computed from the file's base blocks, never the whole base.

Shared by ``build`` (a new file) and ``update`` (a rewritten one): the same scan blocks, the
same float64 arithmetic, the same covariance sample.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class CovarianceSample:
    """The base rows the measures' covariance samples (``query_measures.base_sample``), kept
    as the base streams past so they need not be read back from the file."""

    def __init__(self, shape: tuple[int, int]) -> None:
        from annbench.datasets.query_measures import COVARIANCE_SAMPLE, COVARIANCE_SEED

        self.rows: np.ndarray | None = None
        self.vectors: np.ndarray | None = None
        if shape[0] > COVARIANCE_SAMPLE:
            rng = np.random.default_rng(COVARIANCE_SEED)
            self.rows = np.sort(rng.choice(shape[0], COVARIANCE_SAMPLE, replace=False))
            self.vectors = np.empty((COVARIANCE_SAMPLE, shape[1]), dtype=np.float32)

    def add(self, start: int, block: np.ndarray) -> None:
        """Keep the sampled rows of the base block that begins at row ``start``."""
        if self.rows is not None:
            lo, hi = np.searchsorted(self.rows, [start, start + len(block)])
            self.vectors[lo:hi] = block[self.rows[lo:hi] - start]


class FileRows:
    """An HDF5 base as the measures read it: whole (only small bases are read whole) or at
    ascending rows, served from the kept sample or gathered a block at a time (h5py's point
    selection is slow for many rows)."""

    ROWS = 1 << 16

    def __init__(self, dataset, kept: CovarianceSample | None = None) -> None:
        self.dataset = dataset
        self.shape = tuple(int(x) for x in dataset.shape)
        self.kept = kept

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self.dataset[()], dtype=dtype or np.float32)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        kept = self.kept
        if kept is not None and kept.rows is not None and np.array_equal(rows, kept.rows):
            return kept.vectors
        if np.any(np.diff(rows) < 0):
            raise ValueError("rows must ascend")
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        edges = np.searchsorted(rows, np.arange(0, len(self) + self.ROWS, self.ROWS))
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            if lo < hi:
                start = i * self.ROWS
                out[lo:hi] = self.dataset[start : start + self.ROWS][rows[lo:hi] - start]
        return out


@dataclass
class _Measured:
    """What ``attach_measures`` reads and fills, with the base left in the file."""

    base: Any
    queries: np.ndarray
    metric: str
    distances: np.ndarray
    query_measures: dict[str, np.ndarray] = field(default_factory=dict)
    query_measures_info: dict[str, Any] = field(default_factory=dict)

    @property
    def ground_truth_k(self) -> int:
        return int(self.distances.shape[1])


def put_ground_truth(
    writer,
    queries: np.ndarray,
    metric: str,
    k: int,
    kept: CovarianceSample,
    progress=None,
    phases: Callable[[str], AbstractContextManager] | None = None,
) -> None:
    """Exact top-``k`` ground truth, the mean distances and the per-query measures of the
    writer's base (complete in the file), stored in the file; ``phases(name)`` times each."""
    from annbench.datasets.groundtruth import mean_distance_sample, refine, sample_record, scan

    phases = phases or (lambda name: nullcontext())
    train = writer.train
    sample = mean_distance_sample(len(train), len(queries), metric)
    sums = np.zeros(len(queries))
    with phases("scan+means"):
        _, candidates = scan(
            train, queries, metric, k, progress=progress, distance_sums=sums, sample=sample
        )
    record = sample_record(len(train), sample)
    with phases("refine"):
        ids, distances = refine(train, queries, candidates, metric)
    writer.put("neighbors", ids, np.int64)
    writer.put("distances", distances, np.float32)
    with phases("measures"):
        put_measures(writer, queries, metric, kept, distances, sums / record["rows"], record)


def put_measures(
    writer,
    queries: np.ndarray,
    metric: str,
    kept: CovarianceSample,
    distances: np.ndarray,
    means: np.ndarray | None,
    record: dict[str, Any],
) -> None:
    """The per-query measures from the ground-truth ``distances`` and the queries' ``means``
    (the base read from the file), stored in the file."""
    from annbench.datasets.query_measures import attach_measures

    measured = _Measured(FileRows(writer.train, kept), queries, metric, distances)
    attach_measures(measured, means, record)
    writer.put_measures(measured.query_measures, measured.query_measures_info)
