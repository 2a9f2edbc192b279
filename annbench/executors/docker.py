"""Run a job in its adapter's container: the same Job and the same worker as the process
executor, with the dataset mounted read-only, the results folder read-write, no network, and
CPU and memory limits. A container past its timeout is killed; one killed by the kernel for
exceeding its memory limit is recorded as failed, out of memory.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from annbench.executors.process import record_failure
from annbench.plan import Job
from annbench.results import PARTIAL, result_path

DATA_MOUNT = "/annbench/data"
RESULTS_MOUNT = "/annbench/results"
ADAPTERS_ROOT = "/opt/annbench/algorithms"
CODE_MOUNT = "/opt/annbench/live"


def container_job(job: Job) -> Job:
    """The Job as the container sees it: paths inside the container's mounts."""
    module = Path(job.adapter_module)
    return dataclasses.replace(
        job,
        dataset_path=f"{DATA_MOUNT}/{Path(job.dataset_path).name}",
        adapter_module=f"{ADAPTERS_ROOT}/{job.adapter}/{module.name}",
    )


def run(
    job: Job,
    results_dir: str | Path,
    *,
    cpuset: str | None = None,
    cpus: float | None = None,
    memory: str | None = None,
) -> Path:
    from annbench.images import adapter_image, client

    engine = client()
    image = adapter_image(engine, job.adapter)
    results_dir = Path(results_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    inside = container_job(job)
    limits = {}
    if cpuset:
        limits["cpuset_cpus"] = cpuset
    if cpus:
        limits["nano_cpus"] = int(cpus * 1e9)
    if memory:
        limits["mem_limit"] = memory
        limits["memswap_limit"] = memory  # no swap beyond the limit
    container = engine.containers.run(
        image.id,
        ["python", "-m", "annbench.worker", RESULTS_MOUNT, "--job", inside.to_json()],
        detach=True,
        network_mode="none",
        user=f"{os.getuid()}:{os.getgid()}",
        environment={"ANNBENCH_IMAGE_ID": image.id, "HOME": "/tmp", "PYTHONPATH": CODE_MOUNT},
        volumes={
            str(Path(job.dataset_path).resolve().parent): {"bind": DATA_MOUNT, "mode": "ro"},
            str(results_dir): {"bind": RESULTS_MOUNT, "mode": "rw"},
            # the host's own annbench package shadows the image's copy: the worker that runs
            # is exactly the one the other executors run, even after an edit
            str(Path(__file__).resolve().parents[1]): {
                "bind": f"{CODE_MOUNT}/annbench",
                "mode": "ro",
            },
        },
        **limits,
    )
    try:
        return _wait(container, job, results_dir, memory)
    finally:
        container.remove(force=True)


def _wait(container, job: Job, results_dir: Path, memory: str | None) -> Path:
    import requests

    try:
        status = container.wait(timeout=job.timeout_s)
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        container.kill()
        _drop_partial(job, results_dir)
        return record_failure(results_dir, job, f"timeout: killed after {job.timeout_s:g} s")
    container.reload()
    state = container.attrs["State"]
    path = result_path(results_dir, job)
    if state.get("OOMKilled"):
        _drop_partial(job, results_dir)
        return record_failure(results_dir, job, f"out of memory: killed at the {memory} limit")
    if status.get("StatusCode", 1) != 0 or not path.exists():
        tail = container.logs(tail=3).decode(errors="replace").strip().splitlines()
        reason = f"container exited with status {status.get('StatusCode')}"
        return record_failure(results_dir, job, f"{reason}: {' | '.join(tail)}" if tail else reason)
    return path


def _drop_partial(job: Job, results_dir: Path) -> None:
    final = result_path(results_dir, job)
    final.with_name(final.name + PARTIAL).unlink(missing_ok=True)
