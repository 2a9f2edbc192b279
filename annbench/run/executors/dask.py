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
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from annbench.errors import UserError
from annbench.errors.files import write_bytes
from annbench.store.jobs import Job
from annbench.store.results import commit_result, staging_path

RESOURCE = "annbench"
WORKER_ENV = "ANNBENCH_DASK_WORKER"


def run_job_remotely(job_json: str) -> bytes:
    """The Dask task: run one job in a guarded subprocess on this worker, return the result
    file. The task polls its own state while the job runs: once Dask cancels it (the client
    cancelled it, or went away), the job's whole process tree is killed."""
    from distributed import get_worker

    from annbench.run.executors import process

    job = Job.from_json(job_json)
    if "://" in job.dataset_path:
        import fsspec

        local = fsspec.open_local(
            f"filecache::{job.dataset_path}", filecache={"cache_storage": tempfile.gettempdir()}
        )
        job = dataclasses.replace(job, dataset_path=local)
    worker = get_worker()
    os.environ[WORKER_ENV] = worker.address  # recorded in the result's manifest
    with tempfile.TemporaryDirectory(prefix="annbench-dask-") as folder:
        path = process.run(job, Path(folder), should_stop=_cancelled(worker))
        return path.read_bytes()


def _cancelled(worker):
    """A poll that says whether the task running in this thread has been cancelled."""
    key = worker.get_current_task()

    def cancelled() -> bool:
        task = worker.state.tasks.get(key)
        return task is None or task.state in GONE

    return cancelled


GONE = ("cancelled", "released", "forgotten")


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
            # the cluster is annbench's own: its shutdown chatter (a heartbeat that meets a
            # closing scheduler, with a traceback) is not the user's business
            silence_logs=logging.CRITICAL,
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

    from annbench.errors import one_line
    from annbench.run.executors.process import record_failure

    results_dir = Path(results_dir)
    client = connect(scheduler)
    futures = {}
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
    except BaseException:
        # SIGTERM, Ctrl-C, or the caller stopped: the running tasks see the cancellation and
        # kill their jobs' process trees
        client.cancel(list(futures), force=True)
        raise
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()


def _store(results_dir: Path, job: Job, payload: bytes) -> Path:
    """Commit a result file that came back from a worker (a failure never replaces a good
    result)."""
    staged = staging_path(results_dir, job)
    try:
        write_bytes(staged, payload)
        return commit_result(results_dir, job, staged)
    finally:
        staged.unlink(missing_ok=True)


def run(job: Job, results_dir: str | Path, **_: object) -> Path:
    """One job on a local cluster (the sweep uses ``run_many`` for whole batches)."""
    return next(run_many([job], results_dir))[1]
