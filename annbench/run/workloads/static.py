"""The static workload: today's query sweep. Every point of the query grid, in every mode and
with every search-thread count: warmup passes, then timed passes over the dataset's queries.

batch: one call with every query per pass; single: one call per query, each timed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np

from annbench.errors import UserError
from annbench.run.threads import thread_limit
from annbench.run.workloads.answers import checked_output
from annbench.store.jobs import Job
from annbench.store.results import SweepPoint


def sweep(
    adapter,
    dataset,
    queries: np.ndarray,
    job: Job,
    *,
    answerer=None,
    filters=None,
    check: Callable[[np.ndarray], None] | None = None,
) -> list[SweepPoint]:
    """Measure ``adapter`` (built) at every query point of ``job``; ``queries`` are the
    dataset's, as the adapter must see them (normalised for angular). A filtered workload
    passes its ``filters``, the ``answerer`` of them (the adapter, or a post-filter over it;
    it takes the query parameters) and a ``check`` of every answer."""
    from annbench.datasets.groundtruth import exact_distances

    answerer = answerer or adapter
    points = []
    for params, mode, threads in itertools.product(job.query_params, job.modes, job.search_threads):
        answerer.set_query_params(**params)
        adapter.search_threads = threads
        with thread_limit(threads):
            ids, distances, times, latencies = timed_search(
                answerer, queries, job.k, job.warmup, job.repeats, mode, filters=filters
            )
        ids, distances = checked_output(ids, distances, len(queries), job.k, len(dataset.base))
        if check is not None:
            check(ids)
        true_distances = exact_distances(dataset.base, dataset.queries, ids, job.metric)
        points.append(
            SweepPoint(params, ids, distances, true_distances, times, mode, threads, latencies)
        )
    return points


def timed_search(
    adapter,
    queries: np.ndarray,
    k: int,
    warmup: int,
    repeats: int,
    mode: str = "batch",
    filters=None,
):
    """Warm up, then time ``repeats`` passes over the queries (with ``filters``: through
    ``adapter.filtered_search``, each query with its own filter).

    batch: one call with every query per pass; single: one call per query, each timed (the
    per-query arguments are prepared before the clock starts). Returns the last pass's (ids,
    distances), each pass's total time in ns, and for single mode the (repeats, n_queries)
    latencies in ns (None for batch).
    """
    if mode not in ("batch", "single"):
        raise UserError(f"unknown search mode {mode!r}; use batch or single")
    if filters is None:
        calls = (
            [(queries,)]
            if mode == "batch"
            else [(queries[i : i + 1],) for i in range(len(queries))]
        )
        search = adapter.search
    else:
        calls = (
            [(queries, filters)]
            if mode == "batch"
            else [(queries[i : i + 1], filters.subset([i])) for i in range(len(queries))]
        )

        def search(q, k, f):
            return adapter.filtered_search(q, k, f)

    for _ in range(warmup):
        for arguments in calls:
            search(arguments[0], k, *arguments[1:])
    if mode == "batch":
        times = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            ids, distances = search(calls[0][0], k, *calls[0][1:])
            times.append(time.perf_counter_ns() - start)
        return ids, distances, times, None
    latencies = np.empty((repeats, len(queries)), dtype=np.int64)
    for repeat in range(repeats):
        answers = []
        for i, arguments in enumerate(calls):
            start = time.perf_counter_ns()
            answer = search(arguments[0], k, *arguments[1:])
            latencies[repeat, i] = time.perf_counter_ns() - start
            answers.append(answer)
    ids = np.concatenate([np.asarray(a[0]).reshape(1, -1) for a in answers])
    distances = np.concatenate([np.asarray(a[1]).reshape(1, -1) for a in answers])
    return ids, distances, latencies.sum(axis=1).tolist(), latencies
