"""Run jobs on a Dask cluster (distributed): an existing scheduler, or a LocalCluster.

Each Job is one Dask task. The task runs the job through the process executor on the worker,
so an adapter that crashes takes down a subprocess, never the Dask worker (no retry storm: a
failed run comes back as an ordinary failed result). Tasks require the worker resource
``annbench=1``, so a worker started with ``--resources annbench=1`` runs one job at a time and
co-located jobs do not disturb each other's timings. The result file's bytes return to the
client, which stores them: no shared filesystem is needed for results. A task whose worker dies
is rescheduled by Dask on another worker; since the client writes each run's single file
(named by its run id) only when the task's result arrives, the store never holds a duplicate.

Datasets reach workers by path (shared storage) or, when ``dataset_path`` is a URL, through
fsspec into a worker-local cache.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from annbench.errors import UserError
from annbench.plan import Job
from annbench.results import result_path

RESOURCE = "annbench"
WORKER_ENV = "ANNBENCH_DASK_WORKER"


def run_job_remotely(job_json: str) -> bytes:
    """The Dask task: run one job in a subprocess on this worker, return the result file."""
    from distributed import get_worker

    from annbench.executors import process

    job = Job.from_json(job_json)
    if "://" in job.dataset_path:
        import fsspec

        local = fsspec.open_local(
            f"filecache::{job.dataset_path}", filecache={"cache_storage": tempfile.gettempdir()}
        )
        job = dataclasses.replace(job, dataset_path=local)
    os.environ[WORKER_ENV] = get_worker().address  # recorded in the result's manifest
    with tempfile.TemporaryDirectory(prefix="annbench-dask-") as folder:
        return process.run(job, Path(folder)).read_bytes()


def connect(scheduler: str | None):
    """A client of ``scheduler``, or of a new LocalCluster (one single-threaded worker per CPU,
    each holding one ``annbench`` resource) when no address is given."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("the dask executor needs: pip install 'annbench[dask]'") from None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=len(os.sched_getaffinity(0)),
            threads_per_worker=1,
            resources={RESOURCE: 1},
            dashboard_address=":0",
        )
        return Client(cluster)
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise UserError(
            f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one "
            "with `dask scheduler` or drop --scheduler for a local cluster"
        ) from None


def run_many(
    jobs: list[Job], results_dir: str | Path, *, scheduler: str | None = None
) -> Iterator[tuple[Job, Path]]:
    """Submit every job, store each result as it arrives, yield (job, stored file)."""
    from distributed import as_completed

    from annbench.executors.process import record_failure
    from annbench.worker import one_line

    results_dir = Path(results_dir)
    client = connect(scheduler)
    try:
        futures = {
            client.submit(
                run_job_remotely,
                job.to_json(),
                key=f"annbench-{job.run_id}",
                resources={RESOURCE: 1},
                pure=False,
            ): job
            for job in jobs
        }
        for future in as_completed(futures):
            job = futures[future]
            try:
                payload = future.result()
            except Exception as exc:  # KilledWorker after repeated worker deaths, and the like
                yield job, record_failure(results_dir, job, f"dask: {one_line(exc)}")
                continue
            yield job, _store(results_dir, job, payload)
    finally:
        client.close()


def _store(results_dir: Path, job: Job, payload: bytes) -> Path:
    path = result_path(results_dir, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(payload)
    os.replace(partial, path)
    return path


def run(job: Job, results_dir: str | Path, **_: object) -> Path:
    """One job on a local cluster (the sweep uses ``run_many`` for whole batches)."""
    return next(run_many([job], results_dir))[1]
