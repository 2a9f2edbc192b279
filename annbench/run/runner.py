"""A sweep: run each Job through an executor, skipping what is already stored."""

from __future__ import annotations

import importlib
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annbench.errors import UserError
from annbench.errors.files import ensure_folder, os_errors
from annbench.store.jobs import Job
from annbench.store.results import (
    RunResult,
    clean_staging,
    read_summary,
    store_result,
    stored_status,
)

EXECUTORS = ("process", "inline", "docker", "dask")


@dataclass
class Outcome:
    job: Job
    status: str  # ok | failed | skipped
    path: Path | None = None
    error: str = ""
    build_time_s: float | None = None


def executor_function(name: str) -> Callable[..., Path]:
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
    return importlib.import_module(f"annbench.run.executors.{name}").run


def cpu_sets(parallel: int) -> list[str]:
    """``parallel`` disjoint CPU sets covering the CPUs this process may use."""
    cpus = sorted(os.sched_getaffinity(0))
    if not 1 <= parallel <= len(cpus):
        raise UserError(f"--parallel {parallel} needs between 1 and {len(cpus)} CPUs per set")
    size = len(cpus) // parallel
    return [",".join(map(str, cpus[i * size : (i + 1) * size])) for i in range(parallel)]


def check_writable(results_dir: str | Path) -> None:
    """One line now, before any job, if results cannot be stored in ``results_dir`` (which is
    not created here: a refused command leaves no trace)."""
    import tempfile

    folder = Path(results_dir)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write results into {folder}: {existing} is a file, not a folder")
    with (
        os_errors(folder, "write results into"),
        tempfile.NamedTemporaryFile(dir=existing, prefix=".annbench-probe-"),
    ):
        pass


def plan_size(experiment, registry: dict) -> tuple[int, int]:
    """(jobs, query-sweep points) an experiment expands to, counted without touching any
    dataset (unknown adapters count as their spec's defaults would: zero)."""
    jobs = points = 0
    for entry in experiment.adapters:
        spec = registry.get(entry["name"])
        if spec is None:
            continue
        build = {**spec.build_grid, **entry["build"]}
        query = {**spec.query_grid, **entry["query"]}
        count = _count(build) * len(entry.get("seeds", experiment.seeds))
        count *= len(experiment.build_threads) * len(experiment.orders)
        jobs += count
        points += count * _count(query) * len(experiment.modes) * len(experiment.search_threads)
    return jobs * len(experiment.datasets), points * len(experiment.datasets)


def _count(grid: dict[str, Any]) -> int:
    size = 1
    for values in grid.values():
        size *= len(values) if isinstance(values, list) else 1
    return size


def run_sweep(
    jobs: list[Job],
    results_dir: str | Path,
    *,
    executor: str = "process",
    force: bool = False,
    echo: Callable[[str], None] | None = None,
    options: dict[str, Any] | None = None,
    parallel: int = 1,
) -> list[Outcome]:
    """Run every job not already stored as ok (all of them with ``force``); the sweep goes on
    past failures, which are stored with their reason. ``parallel`` > 1 (docker only) runs that
    many containers at once, each on its own disjoint CPU set. The dask executor submits every
    pending job at once (``options["scheduler"]``: an address, or None for a local cluster;
    ``options["data_url"]``: a folder URL the workers fetch the dataset files from)."""
    run = executor_function(executor)
    check_writable(results_dir)
    ensure_folder(results_dir)
    clean_staging(results_dir)
    options = dict(options or {})
    if parallel > 1 and executor != "docker":
        raise UserError("--parallel needs --executor docker (each container gets its own CPUs)")
    own_env = sorted({job.adapter for job in jobs if job.python})
    if executor == "inline" and own_env:
        raise UserError(
            f"{', '.join(own_env)} {'runs' if len(own_env) == 1 else 'run'} in an "
            "environment of its own, which the inline executor cannot enter; use --executor "
            "process (or docker)"
        )
    free_sets: queue.Queue[str | None] = queue.Queue()
    for cpuset in cpu_sets(parallel) if parallel > 1 else [options.pop("cpuset", None)]:
        free_sets.put(cpuset)

    def prefix(number: int, job: Job) -> str:
        return f"[{number}/{len(jobs)}] {job.label} on {job.dataset}"

    def finished(number: int, job: Job, path: Path) -> Outcome:
        summary = read_summary(path)
        outcome = Outcome(job, summary["status"], path, summary["error"], summary["build_time_s"])
        if echo:
            detail = (
                f"build {outcome.build_time_s:.2f} s" if outcome.status == "ok" else outcome.error
            )
            echo(f"{prefix(number, job)}: {outcome.status}, {detail}")
        return outcome

    outcomes: dict[int, Outcome] = {}
    pending = []
    for number, job in enumerate(jobs, 1):
        if job.skipped:  # the adapter cannot do this workload: recorded with the reason
            path = store_result(
                results_dir, RunResult(job=job, status="skipped", error=job.skipped)
            )
            outcomes[number] = Outcome(job, "skipped", path, job.skipped)
            if echo:
                echo(f"{prefix(number, job)}: skipped: {job.skipped}")
            continue
        if not force and stored_status(results_dir, job) == "ok":
            if echo:
                echo(f"{prefix(number, job)}: already stored, skipped")
            outcomes[number] = Outcome(job, "skipped")
        else:
            pending.append((number, job))

    if executor == "dask" and pending:
        from annbench.run.executors.dask import run_many

        numbers = {job.run_id: number for number, job in pending}
        ran = run_many(
            [job for _, job in pending],
            results_dir,
            scheduler=options.get("scheduler"),
            data_url=options.get("data_url") or "",
        )
        for job, path in ran:
            outcomes[numbers[job.run_id]] = finished(numbers[job.run_id], job, path)
        return [outcomes[number] for number in sorted(outcomes)]

    stopping = threading.Event()

    def one(numbered: tuple[int, Job]) -> Outcome:
        number, job = numbered
        cpuset = free_sets.get()
        try:
            extra = {}
            if executor == "docker":
                extra = {**options, "cpuset": cpuset, "should_stop": stopping.is_set}
            path = run(job, Path(results_dir), **extra)
        finally:
            free_sets.put(cpuset)
        return finished(number, job, path)

    if parallel == 1:
        outcomes.update((number, one((number, job))) for number, job in pending)
    else:
        # containers run in threads; a signal reaches the main thread only, which then tells
        # every running job to stop (each removes its container) before the pool is left
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            try:
                done = pool.map(one, pending)
                outcomes.update((number, outcome) for (number, _), outcome in zip(pending, done))
            except BaseException:
                stopping.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return [outcomes[number] for number in sorted(outcomes)]
