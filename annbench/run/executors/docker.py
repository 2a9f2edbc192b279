"""Run a job in its adapter's container: the same Job, the same guard and the same worker as
the process executor, with the dataset mounted read-only, the results folder read-write, no
network, and CPU and memory limits.

The guard is the container's first process. annbench attaches to the container before it
starts: the attached connection carries the guard's lifeline (its standard input, closed by
the engine when annbench's end of the connection closes, whichever way annbench dies) and
brings back its output, whose last line is the guard's exit status. The container is created
with auto-remove, so once the guard exits it is gone; on a timeout, SIGTERM or Ctrl-C annbench
removes it at once. A job killed by the out-of-memory killer at the container's limit is
recorded as such.

One window is left: annbench killed outright between creating a container and starting it
leaves a created container that never runs (no process, but an orphan). Every container is
labelled with its owner (host, pid, process start time), and each docker job first removes
the containers whose owner on this host is gone.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from annbench.errors.files import ensure_folder
from annbench.run.executors import guard
from annbench.run.executors.process import (
    GRACE_S,
    POLL_S,
    Cancelled,
    failure_reason,
    record_failure,
)
from annbench.store.jobs import Job
from annbench.store.results import commit_result, staging_path

DATA_MOUNT = "/annbench/data"
RESULTS_MOUNT = "/annbench/results"
ADAPTERS_ROOT = "/opt/annbench/algorithms"
CODE_MOUNT = "/opt/annbench/live"
LABEL = "annbench.run"
OWNER_LABEL = "annbench.owner"
OUTPUT_LINES = 50


def container_job(job: Job) -> Job:
    """The Job as the container sees it: paths inside the container's mounts."""
    module = Path(job.adapter_module)
    return dataclasses.replace(
        job,
        dataset_path=f"{DATA_MOUNT}/{Path(job.dataset_path).name}",
        adapter_module=f"{ADAPTERS_ROOT}/{job.adapter}/{module.name}",
        python="",  # the image holds the adapter's requirements
    )


def run(
    job: Job,
    results_dir: str | Path,
    *,
    cpuset: str | None = None,
    cpus: float | None = None,
    memory: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Run ``job`` in its adapter's container; store and return its result (ok or failed).
    ``should_stop`` is polled while it runs (True: the container is removed and ``Cancelled``
    raised), as any exception here removes it."""
    from annbench.run.executors.images import adapter_image, client

    engine = client()
    remove_orphans(engine)
    image = adapter_image(engine, job.adapter)
    results_dir = Path(results_dir).resolve()
    staged = staging_path(results_dir, job)
    ensure_folder(staged.parent)
    inside = staged.relative_to(results_dir)
    limits = {}
    if cpuset:
        limits["cpuset_cpus"] = cpuset
    if cpus:
        limits["nano_cpus"] = int(cpus * 1e9)
    if memory:
        limits["mem_limit"] = memory
        limits["memswap_limit"] = memory  # no swap beyond the limit
    command = [
        *["python", "-m", "annbench.run.executors.guard", repr(float(job.timeout_s)), "--"],
        *["python", "-m", "annbench.run.worker", f"{RESULTS_MOUNT}/{inside}"],
        *["--job", container_job(job).to_json()],
    ]
    binds = {
        str(Path(job.dataset_path).resolve().parent): {"bind": DATA_MOUNT, "mode": "ro"},
        str(results_dir): {"bind": RESULTS_MOUNT, "mode": "rw"},
        # the host's own annbench package shadows the image's copy: the worker that runs is
        # exactly the one the other executors run, even after an edit
        str(Path(__file__).resolve().parents[2]): {"bind": f"{CODE_MOUNT}/annbench", "mode": "ro"},
    }
    created = engine.api.create_container(
        image.id,
        command,
        stdin_open=True,  # and, not detached, StdinOnce: the engine closes the guard's stdin
        detach=False,  # when annbench's attached connection closes
        user=f"{os.getuid()}:{os.getgid()}",
        labels={LABEL: job.run_id, OWNER_LABEL: owner()},
        environment={"ANNBENCH_IMAGE_ID": image.id, "HOME": "/tmp", "PYTHONPATH": CODE_MOUNT},
        volumes=[bind["bind"] for bind in binds.values()],
        host_config=engine.api.create_host_config(
            binds=binds, auto_remove=True, network_mode="none", **limits
        ),
    )
    container = engine.containers.get(created["Id"])
    connection = None
    try:
        connection = engine.api.attach_socket(
            container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        output = _Output(connection)
        container.start()
        finished = output.wait(job.timeout_s + GRACE_S, should_stop)
    except BaseException:
        _remove(container)
        staged.unlink(missing_ok=True)
        raise
    finally:
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()
    try:
        status = output.status() if finished else None
        if not finished:
            _remove(container)
        if status == 0 and staged.exists():
            return commit_result(results_dir, job, staged)
        reason = failure_reason(status, output.text(), job.timeout_s)
        if status == guard.OUT_OF_MEMORY:
            reason = f"out of memory: killed at the {memory} limit"
        elif status is None and finished:
            reason = f"the container ended without the guard's status: {output.text()[-300:]}"
        return record_failure(results_dir, job, reason)
    finally:
        staged.unlink(missing_ok=True)


class _Output:
    """The attached stream, read in a thread: the last lines, and the end of the stream."""

    def __init__(self, connection) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(connection,), daemon=True)
        self._thread.start()

    def _read(self, connection) -> None:
        from docker.utils.socket import frames_iter

        pending = ""
        try:
            for _, data in frames_iter(connection, tty=False):
                pending += data.decode(errors="replace")
                *complete, pending = pending.split("\n")
                self.lines.extend(complete)
        except OSError:
            pass
        finally:
            if pending:
                self.lines.append(pending)
            self.done.set()

    def wait(self, seconds: float, should_stop: Callable[[], bool] | None = None) -> bool:
        """Whether the stream ended within ``seconds``; ``Cancelled`` once ``should_stop``."""
        deadline = time.monotonic() + seconds
        while not self.done.wait(min(POLL_S, max(deadline - time.monotonic(), 0))):
            if should_stop and should_stop():
                raise Cancelled("the job was cancelled")
            if time.monotonic() >= deadline:
                return False
        return True

    def text(self) -> str:
        return "\n".join(self.lines)

    def status(self) -> int | None:
        for line in reversed(self.lines):
            if line.startswith(guard.EXIT_LINE):
                with contextlib.suppress(ValueError):
                    return int(line[len(guard.EXIT_LINE) :])
        return None


def owner(pid: int | None = None) -> str:
    """Who started a container: this host, a pid and that process's start time (pids recur)."""
    import socket

    import psutil

    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{pid}/{psutil.Process(pid).create_time():.2f}"


def _owner_alive(label: str) -> bool:
    """Whether the process named by an owner label still runs; one on another host is taken
    to be alive (it is not ours to judge)."""
    import socket

    import psutil

    host, _, rest = label.partition("/")
    pid, _, started = rest.partition("/")
    if host != socket.gethostname():
        return True
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" == started
    except (ValueError, psutil.Error):
        return False


def remove_orphans(engine) -> list[str]:
    """Remove annbench's containers whose owner process on this host is gone; their ids.
    The listing is the engine's summary (no per-container inspect), since a container of a
    job finishing meanwhile removes itself."""
    import docker

    removed = []
    for summary in engine.api.containers(all=True, filters={"label": LABEL}):
        label = (summary.get("Labels") or {}).get(OWNER_LABEL)
        if label is not None and not _owner_alive(label):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                engine.api.remove_container(summary["Id"], force=True)
                removed.append(summary["Id"])
    return removed


def _remove(container) -> None:
    import docker

    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        container.remove(force=True)
