"""Run a job in this process: no isolation, for debugging and for fast tests."""

from __future__ import annotations

from pathlib import Path

from annbench.store.jobs import Job


def run(job: Job, results_dir: str | Path) -> Path:
    from annbench.run.worker import run_job
    from annbench.store.results import commit_result, staging_path

    staged = staging_path(results_dir, job)
    try:
        return commit_result(results_dir, job, run_job(job, staged))
    finally:
        staged.unlink(missing_ok=True)
