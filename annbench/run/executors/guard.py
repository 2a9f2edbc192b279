"""The guard: the one process that owns a job's process tree, whichever way the job ends.

Every executor starts the worker through a guard (``python -m annbench.run.executors.guard``). The
guard imports nothing heavy and never runs adapter code, so it always answers. It:

- makes itself a child subreaper, so a process the adapter's library daemonises (double fork,
  ``setsid``) is reparented to the guard rather than to init, and stays findable;
- starts the worker in a process group of its own, with PR_SET_PDEATHSIG, so the worker dies
  if the guard does;
- watches its lifeline, standard input, which annbench holds open for the job's lifetime: at
  end of file annbench is gone (exited, SIGTERM, SIGKILL: the kernel closes its descriptors)
  and the guard kills the job's whole tree and exits;
- enforces the job's deadline itself, so a hung adapter cannot outlive its timeout even when
  nothing above is left to enforce it;
- after the worker exits, kills whatever the worker left behind, then exits with the worker's
  status.

With ``--cpus`` it pins itself (and so the worker it starts) to those CPUs first.

Exit status: the worker's own status, 128 + N when the worker was killed by signal N,
``TIMEOUT`` (124, as timeout(1)) at the deadline, ``ORPHANED`` (125) when the lifeline broke,
``OUT_OF_MEMORY`` (126) when the kernel's out-of-memory killer took the worker. One line on
standard error says what happened whenever it was not a plain exit, and the last line the
guard writes is always ``annbench-guard: exit STATUS`` (for executors that see only output,
such as a container's attached stream).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

EXIT_LINE = "annbench-guard: exit "
TIMEOUT = 124
ORPHANED = 125
OUT_OF_MEMORY = 126
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
OOM_COUNTERS = (
    "/sys/fs/cgroup/memory.events",  # cgroup v2: "oom_kill N"
    "/sys/fs/cgroup/memory/memory.oom_control",  # cgroup v1: "oom_kill N"
)


def _prctl(option: int, value: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, value, 0, 0, 0)


def _own_group_dying_with(parent: int):
    """What the worker runs between fork and exec: a process group of its own (so its tree can
    be killed as one), and SIGKILL when the guard dies."""

    def prepare() -> None:
        os.setpgid(0, 0)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the guard died before the death signal was armed
            os._exit(1)

    return prepare


def descendants() -> list[int]:
    """Every process below this one (children, and children of those), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        parent = int(stat.rpartition(")")[2].split()[1])  # the name may hold spaces and ')'
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [os.getpid()]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def kill_tree(group: int | None) -> int:
    """SIGKILL the worker's process group and every descendant of the guard, until none is
    left (a process forking while it is killed is caught on the next round); reap them all.
    Returns how many processes were killed."""
    killed: set[int] = set()
    for _ in range(50):
        if group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        alive = descendants()
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(alive)
        _reap()
        if not alive:
            break
        time.sleep(0.02)
    return len(killed)


def _reap() -> None:
    """Collect every exited child (the subreaper inherits the orphans)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def oom_kills() -> int:
    """Out-of-memory kills counted by this cgroup (0 where no counter can be read)."""
    for name in OOM_COUNTERS:
        try:
            for line in Path(name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return 0


def _status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def supervise(command: list[str], timeout_s: float, lifeline: int = 0) -> int:
    """Run ``command`` under the rules above; return the exit status to report."""
    with contextlib.suppress(OSError):
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    oom_before = oom_kills()
    worker = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, preexec_fn=_own_group_dying_with(os.getpid())
    )
    deadline = time.monotonic() + timeout_s
    watched = [lifeline]
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(worker.pid)
        watched.append(pidfd)
    try:
        outcome = _watch(worker, watched, lifeline, deadline)
    except _Stopped as stop:
        outcome = f"stopped by {signal.Signals(stop.args[0]).name}"
    if outcome != "exited":
        kill_tree(worker.pid)
        if outcome == "timeout":
            print(f"annbench-guard: timeout: killed after {timeout_s:g} s", file=sys.stderr)
            return TIMEOUT
        if outcome != "orphaned":
            print(f"annbench-guard: {outcome}; killed the job", file=sys.stderr)
        return ORPHANED
    left = kill_tree(worker.pid)
    if left:
        print(f"annbench-guard: killed {left} processes the worker left behind", file=sys.stderr)
    status = _status(worker.returncode)
    if worker.returncode == -signal.SIGKILL and oom_kills() > oom_before:
        print("annbench-guard: the out-of-memory killer took the worker", file=sys.stderr)
        return OUT_OF_MEMORY
    return status


class _Stopped(Exception):
    """A signal told the guard to end the job."""


def _stop(number: int, _frame) -> None:
    raise _Stopped(number)


def _watch(worker: subprocess.Popen, watched: list[int], lifeline: int, deadline: float) -> str:
    """Wait until the worker exits ('exited'), the lifeline breaks ('orphaned') or the deadline
    passes ('timeout')."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        ready, _, _ = select.select(watched, [], [], min(remaining, 0.5 if len(watched) < 2 else 5))
        if lifeline in ready and not os.read(lifeline, 4096):
            return "orphaned"
        if worker.poll() is not None:
            return "exited"


USAGE = "usage: python -m annbench.run.executors.guard TIMEOUT_S [--cpus 0,1] -- COMMAND..."


def parse_cpus(text: str) -> set[int]:
    """``0,2,5`` -> {0, 2, 5}: the CPUs the job is pinned to."""
    return {int(part) for part in text.split(",")}


def main(argv: list[str] | None = None) -> int:
    """``python -m annbench.run.executors.guard TIMEOUT_S [--cpus LIST] -- COMMAND...``; with
    ``--cpus`` the guard pins itself, and so the job it starts, to those CPUs (done here, in
    a single-threaded process, rather than between fork and exec of a threaded caller)."""
    args = sys.argv[1:] if argv is None else argv
    cpus = None
    if len(args) >= 3 and args[1] == "--cpus":
        try:
            cpus = parse_cpus(args[2])
        except ValueError:
            print(USAGE, file=sys.stderr)
            return 2
        args = [args[0], *args[3:]]
    if len(args) < 3 or args[1] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    # a terminal's Ctrl-C reaches annbench, which ends the job through the lifeline; a
    # SIGTERM sent to the guard itself (docker stop, a process manager) ends the job at once
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _stop)
    status = supervise(args[2:], float(args[0]))
    print(f"{EXIT_LINE}{status}", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
