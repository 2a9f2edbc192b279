"""The filtered workload: the static sweep with one filter per query, answered by the adapter's
own filtering path (``filtered_search``) or by post-filtering its plain search.

Post-filtering is what a user without native filters does: ask the index for more than k
(k x overfetch / the filter's selectivity, the overfetch being a query parameter), keep the
first k answers that pass. Its cost and its recall loss at low selectivity are the point of
measuring it. Every answer of either path is checked against its query's filter.
"""

from __future__ import annotations

import math

import numpy as np

from annbench.errors import AdapterError
from annbench.run.workloads import static
from annbench.store.jobs import Job


class PostFilter:
    """Answers filtered queries with an adapter's plain ``search``: over-fetch, then drop."""

    def __init__(self, adapter, attributes, workload) -> None:
        self.adapter = adapter
        self.attributes = attributes
        self.overfetch = 1.0
        filters = workload.filters
        self.selectivity = {filters.key(i): s for i, s in enumerate(workload.selectivity)}

    def set_query_params(self, overfetch: float = 1.0, **params) -> None:
        """``overfetch`` is the post-filter's own; the rest are the adapter's."""
        self.overfetch = float(overfetch)
        self.adapter.set_query_params(**params)

    def fetch_size(self, key, k: int) -> int:
        share = max(self.selectivity.get(key, 1.0), 1.0 / self.attributes.n)
        return min(self.attributes.n, max(k, math.ceil(k * self.overfetch / share)))

    def filtered_search(self, queries: np.ndarray, k: int, filters):
        nq = len(queries)
        ids = np.full((nq, k), -1, dtype=np.int64)
        distances = np.full((nq, k), np.inf, dtype=np.float32)
        sizes = np.array([self.fetch_size(filters.key(i), k) for i in range(nq)])
        for size in np.unique(sizes):
            rows = np.flatnonzero(sizes == size)
            found, found_distances = self.adapter.search(queries[rows], int(size))
            found = np.asarray(found, dtype=np.int64)
            for row, query in zip(rows, range(len(rows))):
                keep = (found[query] >= 0) & filters.passes(self.attributes, row, found[query])
                chosen = np.flatnonzero(keep)[:k]
                ids[row, : len(chosen)] = found[query, chosen]
                distances[row, : len(chosen)] = np.asarray(found_distances)[query, chosen]
        return ids, distances


def sweep(adapter, dataset, queries: np.ndarray, job: Job, attributes, workload) -> list:
    """Measure ``adapter`` at every query point of ``job`` on the filter workload: the static
    sweep, each query with its filter, every answer checked against it."""
    answerer = (
        PostFilter(adapter, attributes, workload) if job.strategy == "postfilter" else adapter
    )
    filters = workload.filters
    return static.sweep(
        adapter,
        dataset,
        queries,
        job,
        answerer=answerer,
        filters=filters,
        check=lambda ids: check_passing(ids, filters, attributes),
    )


def check_passing(ids: np.ndarray, filters, attributes) -> None:
    """Refuse answers that fail their query's filter."""
    for i in range(len(ids)):
        passes = filters.passes(attributes, i, ids[i])
        if not passes.all():
            bad = int(ids[i][np.argmin(passes)])
            raise AdapterError(
                f"filtered search returned id {bad} for query {i}, which fails its filter "
                f"({filters.describe(i)})"
            )
