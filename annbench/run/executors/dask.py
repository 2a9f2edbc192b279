"""Run jobs on a Dask cluster (distributed): an existing scheduler, or a LocalCluster.

Each Job is one Dask task. The task runs the job through the process executor on the worker,
so an adapter that crashes takes down a subprocess, never the Dask worker (no retry storm: a
failed run comes back as an ordinary failed result). The worker resource ``annbench`` counts CPU
threads: a worker started with ``--nthreads N --resources annbench=N`` runs jobs side by side
while the threads they ask for (``threads_needed``) fit in N, each pinned to CPUs of its own, so
co-located jobs do not disturb each other's timings. A job that no worker can hold is refused
before anything is submitted. The result file's bytes return to the client, which stores them:
no shared filesystem is needed for results. A task whose worker dies is rescheduled by Dask on
another worker; since the client writes each run's single file (named by its run id) only when
the task's result arrives, the store never holds a duplicate.

Datasets reach workers by path (shared storage) or by URL (``data_url``), fetched once per
machine into a local cache (``annbench.run.executors.data_cache``); either way the jobs on a
machine share one memory-mapped copy (``annbench.datasets.mapped``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from annbench.errors import UserError
from annbench.errors.files import write_bytes
from annbench.run.threads import threads_needed
from annbench.store.jobs import Job
from annbench.store.results import commit_result, staging_path

RESOURCE = "annbench"
WORKER_ENV = "ANNBENCH_DASK_WORKER"
WORKER_WAIT_S = 60
START_WORKERS = "start workers with --nthreads N --resources annbench=N"


def run_job_remotely(job_json: str, threads: int = 1, data_url: str = "") -> bytes:
    """The Dask task: run one job in a guarded subprocess on this worker, pinned to ``threads``
    CPUs of its own, and return the result file. With ``data_url`` the dataset comes from
    this machine's cache of that URL. The task polls its own state while the job runs: once
    Dask cancels it (the client cancelled it, or went away), the job's whole process tree is
    killed."""
    from distributed import get_worker

    from annbench.run.executors import process
    from annbench.run.executors.data_cache import local_copy
    from annbench.run.executors.pinning import cpus_taken

    info = {"timeline_ns": {"task_start": time.time_ns()}}
    job = Job.from_json(job_json)
    data = None
    if "://" in job.dataset_path and not data_url:  # a Job made by hand, naming a URL
        data_url = job.dataset_path
    if data_url:
        data, info["data_fetched"] = local_copy(data_url, job.dataset_hash, job.workload)
        info["timeline_ns"]["data_ready"] = time.time_ns()
    worker = get_worker()
    os.environ[WORKER_ENV] = worker.address  # recorded in the result's manifest
    offered = int(worker.state.total_resources.get(RESOURCE, 0))
    with (
        cpus_taken(threads, offered) as (cpus, unpinned),
        tempfile.TemporaryDirectory(prefix="annbench-dask-") as folder,
    ):
        info["cpus"] = sorted(cpus)
        if unpinned:
            info["unpinned"] = unpinned
        path = process.run(
            job, Path(folder), should_stop=_cancelled(worker), cpus=cpus, data=data, info=info
        )
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
    """A client of ``scheduler``, or of a new LocalCluster when no address is given: one
    worker process holding every CPU, as ``annbench`` resource and as threads, the layout
    annbench asks of any cluster (one worker per machine)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("the dask executor needs: pip install 'annbench[dask]'") from None
    if scheduler is None:
        cpus = len(os.sched_getaffinity(0))
        # a task that no worker can take fails after this instead of waiting for ever
        with dask.config.set({"distributed.scheduler.no-workers-timeout": f"{WORKER_WAIT_S}s"}):
            cluster = LocalCluster(
                n_workers=1,
                threads_per_worker=cpus,
                resources={RESOURCE: cpus},
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


def worker_offers(client) -> list[int]:
    """The ``annbench`` threads each worker offers; one line when no worker joins within
    ``WORKER_WAIT_S`` or none offers the resource (its tasks would wait for ever)."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise UserError(
            f"no Dask worker joined the scheduler within {WORKER_WAIT_S} s; {START_WORKERS}"
        ) from None
    try:  # some distributed releases list only the first 5 workers unless asked for all
        info = client.scheduler_info(n_workers=-1)
    except TypeError:
        info = client.scheduler_info()
    workers = info["workers"].values()
    offers = [int(w.get("resources", {}).get(RESOURCE, 0)) for w in workers]
    if not any(offers):
        raise UserError(
            f"none of the {len(offers)} Dask workers offers the {RESOURCE!r} resource; "
            f"{START_WORKERS}"
        )
    return offers


def placements(jobs: list[Job], offers: list[int], *, local: bool = False) -> list[int]:
    """The threads each job needs, checked against the largest worker before any submit."""
    largest = max(offers)
    needs = [threads_needed(job, largest) for job in jobs]
    for job, need in zip(jobs, needs):
        if need > largest:
            fix = (
                "lower build_threads / search_threads, or pass --scheduler of a cluster "
                "with bigger machines"
                if local
                else START_WORKERS
            )
            where = "this machine" if local else "the largest worker"
            raise UserError(f"{job.label} needs {need} threads; {where} offers {largest}: {fix}")
    return needs


def remote_jobs(jobs: list[Job], data_url: str) -> list[tuple[str, str]]:
    """(the job's JSON, the URL of its dataset file or "") per job, as the workers get them."""
    if data_url and any(job.runbook for job in jobs):
        raise UserError(
            "--data-url does not apply to runbook jobs (their ground truth is cached beside "
            "the dataset file); put the data on shared storage instead"
        )
    prefix = data_url.rstrip("/")
    return [
        (job.to_json(), f"{prefix}/{Path(job.dataset_path).name}" if data_url else "")
        for job in jobs
    ]


def run_many(
    jobs: list[Job],
    results_dir: str | Path,
    *,
    scheduler: str | None = None,
    data_url: str = "",
) -> Iterator[tuple[Job, Path]]:
    """Submit every job, store each result as it arrives, yield (job, stored file). With
    ``data_url`` (a folder URL) a job's dataset is fetched from ``data_url/NAME.hdf5``."""
    from distributed import as_completed

    from annbench.errors import one_line
    from annbench.run.executors.process import record_failure

    results_dir = Path(results_dir)
    payloads = remote_jobs(jobs, data_url)
    client = connect(scheduler)
    futures = {}
    try:
        needs = placements(jobs, worker_offers(client), local=scheduler is None)
        for job, (payload, url), need in zip(jobs, payloads, needs):
            future = client.submit(
                run_job_remotely,
                payload,
                need,
                url,
                key=f"annbench-{job.run_id}",
                resources={RESOURCE: need},
                pure=False,
            )
            futures[future] = job
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
