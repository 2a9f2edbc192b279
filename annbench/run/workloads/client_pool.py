"""How concurrent clients run and are timed: forked processes (an in-process index shared
copy-on-write, results back over pipes, each client dying with the worker) or threads; each
client a sequential stream of single queries through ``adapter.client()``, warmed up, then all
started together and stopped at a common deadline. The clients workload
(annbench.run.workloads.clients) decides what is measured; this module runs one level.
"""

from __future__ import annotations

import array
import contextlib
import os
import pickle
import select
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

from annbench.errors import AdapterError, one_line
from annbench.errors.processes import die_with_parent

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


def run_level(
    adapter,
    queries: np.ndarray,
    k: int,
    offsets: list[int],
    warmup_s: float,
    duration_s: float,
    mode: str,
    ingest=None,
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
            die_with_parent()

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
