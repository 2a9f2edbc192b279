"""Run a job in this process: no isolation, for debugging and for fast tests."""

from __future__ import annotations

from pathlib import Path

from annbench.plan import Job


def run(job: Job, results_dir: str | Path) -> Path:
    from annbench.worker import run_job

    return run_job(job, results_dir)
