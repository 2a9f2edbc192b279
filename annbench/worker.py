"""The worker: runs one Job and writes one result file. The only code that times anything.

Every executor (inline, subprocess, container, cluster) ends up in ``run_job``. Whatever goes
wrong inside the adapter is caught here and stored as a failed run with its reason.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from annbench.errors import AdapterError, UserError
from annbench.plan import Job
from annbench.results import RunResult, SweepPoint, write_result_file


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _peak_rss_bytes() -> int:
    """This process's resident-set high-water mark (VmHWM). ru_maxrss is no substitute on
    Linux: a child inherits its parent's figure across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


CGROUP_PEAK_FILES = (
    "/sys/fs/cgroup/memory/memory.max_usage_in_bytes",  # cgroup v1
    "/sys/fs/cgroup/memory.peak",  # cgroup v2
)


def _container_peak_bytes() -> int | None:
    """The container's peak memory as its cgroup counts it; None outside a container."""
    from annbench.machine import IMAGE_ENV

    if not os.environ.get(IMAGE_ENV):
        return None
    for name in CGROUP_PEAK_FILES:
        try:
            return int(Path(name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return None


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def run_job(job: Job, out: str | Path) -> Path:
    """Measure ``job`` and write its result (ok or failed) to the file ``out``."""
    from annbench.machine import environment

    started = _now()
    try:
        result = measure(job)
    except Exception as exc:  # an adapter can fail in any way; the sweep must go on
        result = RunResult(job=job, status="failed", error=one_line(exc))
    result.started_at, result.finished_at = started, _now()
    result.environment = environment()
    return write_result_file(out, result)


def measure(job: Job) -> RunResult:
    from annbench.adapters.registry import load_adapter_class
    from annbench.datasets.store import load_dataset
    from annbench.groundtruth import exact_distances, normalized
    from annbench.orders import insertion_order

    dataset = load_dataset(job.dataset_path)
    if job.k > dataset.ground_truth_k:
        raise UserError(f"k={job.k} exceeds the stored ground truth ({dataset.ground_truth_k})")
    base, queries = dataset.base, dataset.queries
    if job.metric == "angular":
        base, queries = normalized(base), normalized(queries)
    order = insertion_order(
        job.insertion_order, len(base), job.seed, labels=dataset.labels, lid=dataset.lid
    )
    adapter = load_adapter_class(job.adapter_module, job.adapter_class)(
        job.metric, seed=job.seed, build_threads=job.build_threads, **job.build_params
    )
    ordered = base if job.insertion_order == "original" else np.ascontiguousarray(base[order])
    rss_before = _rss_bytes()
    with thread_limit(job.build_threads):
        start = time.perf_counter_ns()
        adapter.build(ordered, order.copy())
        build_ns = time.perf_counter_ns() - start
    rss_after = _rss_bytes()
    del ordered
    result = RunResult(
        job=job,
        build_time_ns=build_ns,
        build_rss_delta_bytes=rss_after - rss_before,
        index_memory_bytes=adapter.memory_bytes(),
        insertion_order=order,
        ground_truth_ids=dataset.neighbors[:, : job.k],
        ground_truth_distances=dataset.distances[:, : job.k],
    )
    for params, mode, threads in itertools.product(job.query_params, job.modes, job.search_threads):
        adapter.set_query_params(**params)
        adapter.search_threads = threads
        with thread_limit(threads):
            ids, distances, times, latencies = timed_search(
                adapter, queries, job.k, job.warmup, job.repeats, mode
            )
        ids, distances = checked_output(ids, distances, len(queries), job.k, len(base))
        true_distances = exact_distances(dataset.base, dataset.queries, ids, job.metric)
        result.points.append(
            SweepPoint(params, ids, distances, true_distances, times, mode, threads, latencies)
        )
    adapter.close()
    if job.build_threads is None or None in job.search_threads:
        result.default_threads = default_threads()
    result.peak_rss_bytes = _peak_rss_bytes()
    result.container_peak_bytes = _container_peak_bytes()
    return result


def default_threads() -> int:
    """The threads a library runs with when the spec leaves them unset: the size of the
    OpenMP pool in this process (faiss and most C++ libraries), else the CPUs the job may
    use (libraries that start their own threads size them so)."""
    from threadpoolctl import threadpool_info

    pools = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]
    return max(pools) if pools else len(os.sched_getaffinity(0))


def thread_limit(threads: int | None):
    """Cap OpenMP and BLAS thread pools (faiss, numpy) for a block; no-op for None."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


def timed_search(
    adapter, queries: np.ndarray, k: int, warmup: int, repeats: int, mode: str = "batch"
):
    """Warm up, then time ``repeats`` passes over the queries.

    batch: one call with every query per pass; single: one call per query, each timed.
    Returns the last pass's (ids, distances), each pass's total time in ns, and for single mode
    the (repeats, n_queries) latencies in ns (None for batch).
    """
    if mode == "batch":
        for _ in range(warmup):
            adapter.search(queries, k)
        times = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            ids, distances = adapter.search(queries, k)
            times.append(time.perf_counter_ns() - start)
        return ids, distances, times, None
    if mode != "single":
        raise UserError(f"unknown search mode {mode!r}; use batch or single")
    singles = [queries[i : i + 1] for i in range(len(queries))]
    for _ in range(warmup):
        for query in singles:
            adapter.search(query, k)
    latencies = np.empty((repeats, len(queries)), dtype=np.int64)
    for repeat in range(repeats):
        answers = []
        for i, query in enumerate(singles):
            start = time.perf_counter_ns()
            answer = adapter.search(query, k)
            latencies[repeat, i] = time.perf_counter_ns() - start
            answers.append(answer)
    ids = np.concatenate([np.asarray(a[0]).reshape(1, -1) for a in answers])
    distances = np.concatenate([np.asarray(a[1]).reshape(1, -1) for a in answers])
    return ids, distances, latencies.sum(axis=1).tolist(), latencies


# distances may fall back this much between neighbours and still count as ascending: ties
# and float rounding in a library's own arithmetic (a squared distance turned into a root)
ASCENDING_SLACK = 1e-5


def checked_output(ids, distances, n_queries: int, k: int, n_base: int):
    """Refuse answers that are malformed: wrong shape, ids out of range, repeated ids, and
    distances of real answers that are NaN, infinite or not ascending (the protocol's rule;
    padding with -1 ids may carry any distance)."""
    ids, distances = np.asarray(ids), np.asarray(distances)
    if ids.shape != (n_queries, k) or distances.shape != (n_queries, k):
        raise AdapterError(
            f"search returned ids {ids.shape} and distances {distances.shape}, "
            f"expected ({n_queries}, {k}) for both"
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise AdapterError(f"search returned ids of type {ids.dtype}, expected integers")
    ids = ids.astype(np.int64)
    if ids.min() < -1 or ids.max() >= n_base:
        raise AdapterError(f"search returned ids outside [-1, {n_base}): {ids.min()}..{ids.max()}")
    valid = np.where(ids >= 0, ids, -np.arange(1, k + 1) - 1)  # padding never counts as repeat
    repeated = (np.sort(valid, axis=1)[:, 1:] == np.sort(valid, axis=1)[:, :-1]).any(axis=1)
    if repeated.any():
        raise AdapterError(f"search returned a repeated id for query {int(np.argmax(repeated))}")
    if not np.issubdtype(distances.dtype, np.number) or np.iscomplexobj(distances):
        raise AdapterError(f"search returned distances of type {distances.dtype}, not numbers")
    real = ids >= 0
    finite = np.isfinite(distances) | ~real
    if not finite.all():
        row = int(np.argmin(finite.all(axis=1)))
        raise AdapterError(f"search returned a NaN or infinite distance for query {row}")
    _check_ascending(np.where(real, distances, np.inf).astype(np.float64), real)
    return ids, distances


def _check_ascending(distances: np.ndarray, real: np.ndarray) -> None:
    """Each row's real answers come first and their distances ascend, within a slack."""
    if (real[:, 1:] & ~real[:, :-1]).any():
        row = int(np.argmax((real[:, 1:] & ~real[:, :-1]).any(axis=1)))
        raise AdapterError(f"search returned a -1 id before a real answer for query {row}")
    step = distances[:, 1:] - distances[:, :-1]
    slack = ASCENDING_SLACK * np.maximum(1.0, np.abs(distances[:, :-1]))
    falling = (step < -slack) & real[:, 1:]
    if falling.any():
        row, col = map(int, np.argwhere(falling)[0])
        raise AdapterError(
            f"search returned distances that do not ascend for query {row} "
            f"({distances[row, col]:g} then {distances[row, col + 1]:g}); "
            "return them nearest first (similarities negated)"
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m annbench.worker OUT_FILE [--job JSON]``; without --job the Job's JSON is
    read from standard input. Executors run it under the guard (annbench.executors.guard)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[1] == "--job":
        text = args[2]
    elif len(args) == 1:
        text = sys.stdin.read()
    else:
        print(
            "usage: python -m annbench.worker OUT_FILE [--job JSON] (or JSON on stdin)",
            file=sys.stderr,
        )
        return 2
    print(run_job(Job.from_json(text), args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
