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

import array
import contextlib
import ctypes
import inspect
import os
import pickle
import select
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

from annbench.errors import AdapterError, one_line
from annbench.run.threads import thread_limit
from annbench.run.workloads.answers import checked_output
from annbench.store.jobs import Job
from annbench.store.results import SweepPoint

BATCH_S = 0.01  # an ingesting level inserts every 10 ms at its rate
CEILING_S = 2.0  # the no-op ceiling's window (at most the job's duration): it settles fast
WINDOW_ANSWERS = 200_000  # answers a client keeps while ingesting (recall is over them)
READY_GRACE_S = 60.0  # beyond the warmup, how long clients may take to get ready


@dataclass
class ClientRecord:
    """What one client measured: every completed query's latency, the answers of its first
    lap (one per query row, rows ``offset``, ``offset + 1``, ...) and when its last query
    ended."""

    latencies_ns: np.ndarray
    offset: int
    ids: np.ndarray
    distances: np.ndarray
    end_ns: int
    counts: np.ndarray | None = None  # while ingesting: points inserted as each query began
    rows: np.ndarray | None = None  # the query row of each kept answer


@dataclass
class Level:
    """One level measured: the wall time, the clients' records, the start."""

    wall_ns: int
    records: list[ClientRecord]

    @property
    def completed(self) -> int:
        return sum(len(record.latencies_ns) for record in self.records)

    @property
    def qps(self) -> float:
        return self.completed / (self.wall_ns / 1e9)


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


def run_level(
    adapter,
    queries: np.ndarray,
    k: int,
    offsets: list[int],
    warmup_s: float,
    duration_s: float,
    mode: str,
    ingest: Ingest | None = None,
) -> Level:
    """One level: ``len(offsets)`` clients through ``adapter.client()``, in processes or
    threads, warmed up, started together, stopped after ``duration_s``; ``ingest`` (threads
    only: forked clients would not see the inserts) runs beside them from the same start."""
    if mode == "process" and ingest is None:
        return _processes(adapter, queries, k, offsets, warmup_s, duration_s)
    if mode in ("process", "thread"):
        return _threads(adapter, queries, k, offsets, warmup_s, duration_s, ingest)
    raise AdapterError(f"unknown client mode {mode!r}; the spec declares process or thread")


def client_loop(
    handle, queries: np.ndarray, k: int, offset: int, warmup_s: float, start, progress=None
):
    """One client: warm up for ``warmup_s``, then ``start()`` (which waits for the common start
    and returns the deadline in perf_counter ns), then single queries until the deadline.
    Keeps the answers of its first lap over the queries; while ingesting (``progress()``: the
    points inserted so far, read as each query begins) every answer in the window, up to
    ``WINDOW_ANSWERS``, with its query row and that count."""
    n = len(queries)
    row = offset
    warm_until = time.perf_counter_ns() + int(warmup_s * 1e9)
    while time.perf_counter_ns() < warm_until:
        handle.search(queries[row : row + 1], k)
        row = row + 1 if row + 1 < n else 0
    keep = n if progress is None else WINDOW_ANSWERS
    ids, distances = [], []
    rows, counts = array.array("q"), array.array("q")
    latencies = array.array("q")
    row, count, end = offset, 0, 0
    deadline = start()
    while True:
        inserted = progress() if progress is not None else 0
        began = time.perf_counter_ns()
        if began >= deadline:
            break
        found, found_distances = handle.search(queries[row : row + 1], k)
        end = time.perf_counter_ns()
        latencies.append(end - began)
        if count < keep:
            ids.append(np.array(found[0], dtype=np.int64))
            distances.append(np.array(found_distances[0], dtype=np.float32))
            rows.append(row)
            counts.append(inserted)
        count += 1
        row = row + 1 if row + 1 < n else 0
    return ClientRecord(
        np.frombuffer(latencies, dtype=np.int64).copy(),
        offset,
        np.array(ids, dtype=np.int64).reshape(-1, k),
        np.array(distances, dtype=np.float32).reshape(-1, k),
        end,
        None if progress is None else np.frombuffer(counts, dtype=np.int64).copy(),
        np.frombuffer(rows, dtype=np.int64).copy(),
    )


def _level(start_ns: int, records: list[ClientRecord]) -> Level:
    end = max((record.end_ns for record in records), default=start_ns)
    return Level(max(end - start_ns, 1), records)


def _threads(adapter, queries, k, offsets, warmup_s, duration_s, ingest=None) -> Level:
    clock: dict[str, int] = {}

    def go() -> None:  # run by the last thread to reach the barrier, before any is released
        clock["start"] = time.perf_counter_ns()
        clock["deadline"] = clock["start"] + int(duration_s * 1e9)

    barrier = threading.Barrier(len(offsets) + (ingest is not None), action=go)
    records: list[ClientRecord | None] = [None] * len(offsets)
    errors: list[str] = []

    def start() -> int:
        barrier.wait()
        return clock["deadline"]

    progress = (lambda: ingest.done) if ingest is not None else None

    def client(c: int) -> None:
        try:
            if c == len(offsets):  # the ingester
                ingest.run(*_after(start, clock))
                return
            handle = adapter.client()
            records[c] = client_loop(handle, queries, k, offsets[c], warmup_s, start, progress)
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:  # reported by the worker as the job's failure
            errors.append(one_line(exc))
            barrier.abort()

    parties = len(offsets) + (ingest is not None)
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise AdapterError(f"a client failed: {errors[0]}")
    return _level(clock["start"], records)


def _after(start, clock: dict[str, int]) -> tuple[int, int]:
    """Wait for the common start; (start, deadline) in perf_counter ns."""
    start()
    return clock["start"], clock["deadline"]


def _processes(adapter, queries, k, offsets, warmup_s, duration_s) -> Level:
    children: list[tuple[int, int, int, int]] = []  # pid, ready, go, out
    try:
        for offset in offsets:
            children.append(_fork_client(adapter, queries, k, offset, warmup_s))
        _wait_ready(children, warmup_s + READY_GRACE_S)
        start = time.perf_counter_ns()
        deadline = (start + int(duration_s * 1e9)).to_bytes(8, "little")
        for _, _, go, _ in children:
            os.write(go, deadline)
        records = []
        for pid, _, _, out in children:
            payload = _read_all(out)
            _, status = os.waitpid(pid, 0)
            record = pickle.loads(payload) if payload else None
            if not isinstance(record, ClientRecord):
                detail = record if isinstance(record, str) else f"exit status {status}"
                raise AdapterError(f"a client process failed: {detail}")
            records.append(record)
        return _level(start, records)
    finally:
        for pid, *fds in children:
            with contextlib.suppress(ChildProcessError, ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _fork_client(adapter, queries, k, offset, warmup_s) -> tuple[int, int, int, int]:
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the client: never returns
        status = 1
        try:
            for fd in (ready_r, go_w, out_r):
                os.close(fd)
            _die_with_parent()

            def start() -> int:
                os.write(ready_w, b"r")
                return int.from_bytes(_read_exact(go_r, 8), "little")

            payload = pickle.dumps(
                client_loop(adapter.client(), queries, k, offset, warmup_s, start)
            )
            status = 0
        except BaseException as exc:
            payload = pickle.dumps(one_line(exc))
        try:
            _write_all(out_w, payload)
        finally:
            os._exit(status)
    for fd in (ready_w, go_r, out_w):
        os.close(fd)
    return pid, ready_r, go_w, out_r


def _wait_ready(children, seconds: float) -> None:
    """Wait until every client has warmed up (one byte each); a client that ends first failed,
    and says why in its payload."""
    waiting = {ready: (pid, out) for pid, ready, _, out in children}
    deadline = time.monotonic() + seconds
    while waiting:
        readable, _, _ = select.select(list(waiting), [], [], max(deadline - time.monotonic(), 0))
        if not readable:
            raise AdapterError(f"clients were not ready within {seconds:.0f} s of warming up")
        for ready in readable:
            pid, out = waiting.pop(ready)
            if not os.read(ready, 1):
                payload = _read_all(out)
                reason = pickle.loads(payload) if payload else "it ended without a word"
                raise AdapterError(f"a client process failed before starting: {reason}")


def _die_with_parent() -> None:
    """A client outlives no worker: the kernel kills it when its parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _read_exact(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("the worker went away")
        data += chunk
    return data


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
