"""Run a job in its own Python process (the default executor), under the guard.

annbench starts ``python -m annbench.run.executors.guard`` in a session of its own, holding the
guard's standard input open as its lifeline; the guard starts the worker and owns its whole
process tree (see guard.py). A job's fate is decided by the guard's exit status and the staged
result file, never by pipes closing: the guard's output goes to a temporary file, so a process
the adapter left holding a descriptor cannot stall annbench. A worker that dies without writing
a result (a crash inside a library, the out-of-memory killer) is a failed run with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from annbench.errors.files import ensure_folder
from annbench.run.executors import guard
from annbench.store.jobs import Job
from annbench.store.results import RunResult, commit_result, staging_path, store_result

LOG_TAIL_LINES = 3
LOG_TAIL_BYTES = 64 << 10
# the guard enforces the deadline; annbench waits this much longer before killing the guard
GRACE_S = 30.0
POLL_S = 0.25


class Cancelled(Exception):
    """The caller asked for the running job to be stopped (a cancelled Dask task)."""


def run(
    job: Job,
    results_dir: str | Path,
    *,
    should_stop: Callable[[], bool] | None = None,
    cpus: Iterable[int] | None = None,
    data: str | os.PathLike | None = None,
    info: dict | None = None,
) -> Path:
    """Run ``job`` in a guarded worker process; store and return its result (ok or failed).

    ``should_stop`` is polled while the job runs; when it returns True the job's process tree
    is killed and ``Cancelled`` raised. Any exception here (KeyboardInterrupt, annbench's
    SIGTERM) kills the job's tree before it propagates; nothing partial is stored. ``cpus``
    pins the job to those CPUs; ``data`` and ``info`` go to the worker (a local copy of the
    dataset to read; what the caller recorded before the job started)."""
    staged = staging_path(results_dir, job)
    ensure_folder(staged.parent)
    python = local_python(job.python) if job.python else sys.executable
    if not python:
        reason = (
            f"{job.adapter}'s environment ({Path(job.python).parents[1].name}) is missing on "
            f"this machine; run `annbench adapters env {job.adapter}` here"
        )
        return record_failure(results_dir, job, reason)
    command = [
        *guard_command(job.timeout_s, cpus),
        *[python, "-m", "annbench.run.worker", str(staged)],
        *["--job", job.to_json()],
        *(["--data", str(data)] if data else []),
        *(["--info", json.dumps(info)] if info else []),
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log, stderr=log, start_new_session=True
        )
        try:
            status = _wait(proc, job.timeout_s + GRACE_S, should_stop)
        except BaseException:
            end(proc)
            staged.unlink(missing_ok=True)
            raise
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        output = tail(log)
    try:
        if status == 0 and staged.exists():
            return commit_result(results_dir, job, staged)
        return record_failure(results_dir, job, failure_reason(status, output, job.timeout_s))
    finally:
        staged.unlink(missing_ok=True)


def local_python(planned: str) -> str:
    """The interpreter of an adapter's environment on this machine: the planned path, else the
    environment of the same name under this machine's ``ANNBENCH_ENVS`` (a cluster worker's
    home differs from the planner's); "" when neither exists."""
    from annbench.adapters.envs import envs_root

    here = envs_root() / Path(planned).parents[1].name / "bin" / "python"
    return next((str(p) for p in (Path(planned), here) if os.access(p, os.X_OK)), "")


def tail(log, size: int = LOG_TAIL_BYTES) -> str:
    """The end of a log file (an adapter may print without end; only the tail tells why)."""
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - size))
    return log.read().decode(errors="replace")


def guard_command(timeout_s: float, cpus: Iterable[int] | None = None) -> list[str]:
    pin = ["--cpus", ",".join(map(str, sorted(cpus)))] if cpus else []
    return [
        *[sys.executable, "-m", "annbench.run.executors.guard", repr(float(timeout_s))],
        *[*pin, "--"],
    ]


def _wait(proc: subprocess.Popen, limit_s: float, should_stop) -> int | None:
    """The guard's exit status; None when it outlived ``limit_s`` (then it has been killed)."""
    deadline = time.monotonic() + limit_s
    while True:
        step = POLL_S if should_stop else max(deadline - time.monotonic(), 0.0)
        try:
            return proc.wait(timeout=min(step, max(deadline - time.monotonic(), 0.0)))
        except subprocess.TimeoutExpired:
            pass
        if should_stop and should_stop():
            raise Cancelled("the job was cancelled")
        if time.monotonic() >= deadline:
            end(proc)
            return None


def end(proc: subprocess.Popen) -> None:
    """Stop a guarded job now: break the lifeline (the guard kills the tree and exits), and if
    the guard does not exit within seconds, kill its group outright."""
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def failure_reason(status: int | None, output: str, timeout_s: float) -> str:
    """One line for a job that ended without a result, from the guard's status and output."""
    if status is None:
        return f"timeout: killed after {timeout_s:g} s (the guard did not stop it in time)"
    if status == guard.TIMEOUT:
        return f"timeout: killed after {timeout_s:g} s"
    if status == guard.OUT_OF_MEMORY:
        return "out of memory: the kernel's out-of-memory killer took the worker"
    if status > 128:
        try:
            name = signal.Signals(status - 128).name
        except ValueError:
            name = f"signal {status - 128}"
        reason = f"worker killed by {name}"
    elif status == 0:
        reason = "worker exited without writing a result"
    else:
        reason = f"worker exited with status {status}"
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    tail = [line for line in lines if not line.startswith("annbench-guard:")][-LOG_TAIL_LINES:]
    return f"{reason}: {' | '.join(tail)}" if tail else reason


def record_failure(results_dir: str | Path, job: Job, reason: str) -> Path:
    """Store a failed run (beside, never over, a good result of the same job)."""
    from annbench.store.manifest import environment

    return store_result(
        results_dir, RunResult(job=job, status="failed", error=reason, environment=environment())
    )
