"""A sweep: run each Job through an executor, skipping what is already stored."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from annbench.errors import UserError
from annbench.plan import Job
from annbench.results import read_summary, stored_status

EXECUTORS = ("process", "inline")


@dataclass
class Outcome:
    job: Job
    status: str  # ok | failed | skipped
    path: Path | None = None
    error: str = ""
    build_time_s: float | None = None


def executor_function(name: str) -> Callable[[Job, Path], Path]:
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
    return importlib.import_module(f"annbench.executors.{name}").run


def run_sweep(
    jobs: list[Job],
    results_dir: str | Path,
    *,
    executor: str = "process",
    force: bool = False,
    echo: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Run every job not already stored as ok (all of them with ``force``); the sweep goes on
    past failures, which are stored with their reason."""
    run = executor_function(executor)
    outcomes = []
    for number, job in enumerate(jobs, 1):
        prefix = f"[{number}/{len(jobs)}] {job.label} on {job.dataset}"
        if not force and stored_status(results_dir, job) == "ok":
            outcomes.append(Outcome(job, "skipped"))
            if echo:
                echo(f"{prefix}: already stored, skipped")
            continue
        path = run(job, Path(results_dir))
        summary = read_summary(path)
        outcome = Outcome(job, summary["status"], path, summary["error"], summary["build_time_s"])
        outcomes.append(outcome)
        if echo:
            detail = (
                f"build {outcome.build_time_s:.2f} s" if outcome.status == "ok" else outcome.error
            )
            echo(f"{prefix}: {outcome.status}, {detail}")
    return outcomes
