"""Run a job in its own Python process (the default executor).

The worker gets the Job as JSON on standard input. A job past its timeout has its whole
process group killed; a worker that dies without writing a result (a crash inside a library,
the kernel's out-of-memory killer) is recorded as a failed run with the reason.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from annbench.plan import Job
from annbench.results import PARTIAL, RunResult, result_path, write_result

STDERR_TAIL_LINES = 3


def run(job: Job, results_dir: str | Path) -> Path:
    command = [sys.executable, "-m", "annbench.worker", str(results_dir)]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(job.to_json(), timeout=job.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc, job, results_dir)
        return record_failure(results_dir, job, f"timeout: killed after {job.timeout_s:g} s")
    except BaseException:
        _kill(proc, job, results_dir)
        raise
    path = result_path(results_dir, job)
    if proc.returncode != 0 or not path.exists():
        return record_failure(results_dir, job, _exit_reason(proc.returncode, stderr))
    return path


def _kill(proc: subprocess.Popen, job: Job, results_dir: str | Path) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    partial = result_path(results_dir, job)
    partial.with_name(partial.name + PARTIAL).unlink(missing_ok=True)


def _exit_reason(returncode: int, stderr: str) -> str:
    if returncode < 0:
        reason = f"worker killed by {signal.Signals(-returncode).name}"
    else:
        reason = f"worker exited with status {returncode}"
    tail = [line.strip() for line in stderr.strip().splitlines()[-STDERR_TAIL_LINES:]]
    return f"{reason}: {' | '.join(tail)}" if tail else reason


def record_failure(results_dir: str | Path, job: Job, reason: str) -> Path:
    from annbench.machine import environment

    return write_result(
        results_dir, RunResult(job=job, status="failed", error=reason, environment=environment())
    )
