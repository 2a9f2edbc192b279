"""The clients workload: N concurrent clients, each issuing single queries in a loop for a fixed
time, at every level of the job's client counts; the harness's own ceiling beside each level.

QPS at a level = queries completed in the level's window / wall time from the common start to
the last client's end (the end of its last query: a query started before the deadline counts,
and may finish after it). Every completed query's latency is kept, all clients pooled. Client
``c`` of ``N`` starts at a seeded offset of the query set plus ``c * n / N`` and walks it in
order, wrapping around. Each query's first answer is kept; queries that no client reached in
the window are answered after it, untimed, so recall covers the whole query set and equals the
single-mode recall of a deterministic adapter.

How clients run is the adapter's declaration (``clients:`` in its spec): ``process``, forked
after the build (an in-process index is shared copy-on-write; an adapter whose index lives in a
server opens its own connection in ``Adapter.client()``); ``thread``, threads of the worker
(libraries that release the GIL). Either way every client warms up for the job's warmup
seconds, then all start together. The ceiling is a no-op answerer (fixed ids, at once) run the
same way at the same level: the most this harness can measure here.
"""

from __future__ import annotations

import inspect
import time

import numpy as np

from annbench.errors import AdapterError
from annbench.run.threads import thread_limit
from annbench.run.workloads.answers import checked_output
from annbench.run.workloads.client_pool import Level, run_level
from annbench.store.jobs import Job
from annbench.store.results import SweepPoint

BATCH_S = 0.01  # an ingesting level inserts every 10 ms at its rate
CEILING_S = 2.0  # the no-op ceiling's window (at most the job's duration): it settles fast


class NoOp:
    """The ceiling's answerer: the same fixed ids for every query, at once."""

    def __init__(self, k: int) -> None:
        self.answer = (np.arange(k, dtype=np.int64)[None, :], np.zeros((1, k), np.float32))

    def search(self, queries: np.ndarray, k: int):
        return self.answer

    def client(self) -> NoOp:
        return self


def sweep(adapter, dataset, queries: np.ndarray, job: Job) -> list[SweepPoint]:
    """Measure ``adapter`` (built) at every query point of ``job`` and every client level."""
    ceilings: dict[tuple[str, int], float] = {}
    return [
        measure(adapter, dataset, queries, job, params, clients, job.client_mode, ceilings)
        for params in job.query_params
        for clients in job.clients
    ]


def measure(
    adapter,
    dataset,
    queries: np.ndarray,
    job: Job,
    params: dict,
    clients: int,
    mode: str,
    ceilings: dict[tuple[str, int], float],
    *,
    duration_s: float | None = None,
    warmup_s: float | None = None,
    ingest: Ingest | None = None,
) -> SweepPoint:
    """One level at one query point: ``clients`` clients for ``duration_s`` (the job's by
    default), with the ceiling of (mode, level) measured once into ``ceilings``. With
    ``ingest``, its points are inserted at its rate while the clients search (threads only),
    and the point holds every answer kept in the window: ``query_rows`` the query of each,
    ``ingest_counts`` the points inserted when its query began."""
    from annbench.datasets.groundtruth import exact_distances

    if not inspect.ismethod(adapter.client):
        raise AdapterError(
            f"{type(adapter).__name__}.client is not Adapter.client(): an attribute of that "
            "name hides it; rename the attribute"
        )
    duration_s = job.duration_s if duration_s is None else duration_s
    warmup_s = job.client_warmup_s if warmup_s is None else warmup_s
    adapter.set_query_params(**params)
    adapter.search_threads = 1  # each client is one sequential stream of single queries
    offsets = client_offsets(len(queries), clients, job.seed)
    with thread_limit(1):
        level = run_level(adapter, queries, job.k, offsets, warmup_s, duration_s, mode, ingest)
        if (mode, clients) not in ceilings:
            ceiling = run_level(
                NoOp(job.k), queries, job.k, offsets, min(warmup_s, 1.0),
                min(duration_s, CEILING_S), mode,
            )  # fmt: skip
            ceilings[mode, clients] = ceiling.qps
        if ingest is None:
            ids, distances, answered = first_answers(adapter, queries, job.k, level)
            rows, counts = np.arange(len(queries)), None
        else:
            ids, distances, rows, counts = window_answers(level)
            answered = len(rows)
    ids, distances = checked_output(ids, distances, len(ids), job.k, len(dataset.base))
    point = SweepPoint(
        params,
        ids,
        distances,
        exact_distances(dataset.base, dataset.queries[rows], ids, job.metric),
        [level.wall_ns],
        mode="clients",
        search_threads=1,
        latencies_ns=np.concatenate([r.latencies_ns for r in level.records]),
        clients=clients,
        completed=level.completed,
        answered=answered,
        client_completed=[len(r.latencies_ns) for r in level.records],
        ceiling_qps=ceilings[mode, clients],
        client_mode="thread" if ingest is not None else mode,
        duration_s=duration_s,
    )
    if ingest is not None:
        point.ingest_rate, point.ingested = ingest.rate, ingest.done
        point.ingest_counts, point.query_rows = counts, rows
    return point


class Ingest:
    """Inserts ``ids`` (their ``vectors``) at ``rate`` points per second from the level's
    common start until its window closes, in batches of ``BATCH_S`` worth; ``done`` counts the
    points whose insert has returned. ``finish`` inserts whatever the window left."""

    def __init__(self, adapter, vectors: np.ndarray, ids: np.ndarray, rate: float) -> None:
        self.adapter, self.vectors, self.ids, self.rate = adapter, vectors, ids, rate
        self.done = 0

    def run(self, start_ns: int, deadline_ns: int) -> None:
        batch = max(1, round(self.rate * BATCH_S))
        while self.done < len(self.ids):
            due = start_ns + int(self.done / self.rate * 1e9)
            if due >= deadline_ns:
                break
            wait = due - time.perf_counter_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            stop = min(self.done + batch, len(self.ids))
            self.adapter.insert(self.vectors[self.done : stop], self.ids[self.done : stop].copy())
            self.done = stop

    def finish(self) -> None:
        if self.done < len(self.ids):
            self.adapter.insert(self.vectors[self.done :], self.ids[self.done :].copy())


def client_offsets(n_queries: int, clients: int, seed: int) -> list[int]:
    """Where each client starts in the query set: a seeded offset, then evenly apart."""
    first = int(np.random.default_rng([seed, clients]).integers(n_queries))
    return [(first + c * n_queries // clients) % n_queries for c in range(clients)]


def first_answers(adapter, queries: np.ndarray, k: int, level: Level):
    """Each query's first answer within the window (clients in order); queries no client
    reached are answered now, untimed. Returns (ids, distances, answered in the window)."""
    n = len(queries)
    ids = np.full((n, k), -1, dtype=np.int64)
    distances = np.zeros((n, k), dtype=np.float32)
    seen = np.zeros(n, dtype=bool)
    for record in level.records:
        fresh = ~seen[record.rows]
        ids[record.rows[fresh]] = record.ids[fresh]
        distances[record.rows[fresh]] = record.distances[fresh]
        seen[record.rows] = True
    answered = int(seen.sum())
    missing = np.flatnonzero(~seen)
    if len(missing):
        found, found_distances = adapter.search(np.ascontiguousarray(queries[missing]), k)
        ids[missing], distances[missing] = found, found_distances
    return ids, distances, answered


def window_answers(level: Level):
    """Every answer the clients kept in the window (while ingesting): (ids, distances, the
    query row of each, the points inserted when each query began)."""
    records = level.records
    return (
        np.concatenate([r.ids for r in records]),
        np.concatenate([r.distances for r in records]),
        np.concatenate([r.rows for r in records]),
        np.concatenate([r.counts for r in records]),
    )
