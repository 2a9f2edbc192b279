"""CPUs lent to the jobs running on one machine, so that no two share one.

A CPU is held through an exclusive, non-blocking ``flock`` on a lock file named after it: the
lock is machine-wide, so several Dask worker processes on one machine (the older layout of one
1-thread worker per CPU) lend disjoint CPUs as well as the threads of one worker do, and the
kernel drops the lock when its holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def lock_folder() -> Path:
    return Path(tempfile.gettempdir(), "annbench-cpus")


@contextlib.contextmanager
def cpus_taken(threads: int, offered: int) -> Iterator[tuple[set[int], str]]:
    """Hold ``threads`` free CPUs of this process's affinity for a block: (the CPUs, "") or,
    where the job must run unpinned, (an empty set, why): the worker offers more threads than
    it has CPUs, or too few CPUs are free."""
    cpus = sorted(os.sched_getaffinity(0))
    if offered > len(cpus):
        yield set(), f"the worker offers {offered} threads on {len(cpus)} CPUs"
        return
    folder = lock_folder()
    folder.mkdir(parents=True, exist_ok=True)
    held: dict[int, object] = {}
    try:
        for cpu in cpus:
            if len(held) == threads:
                break
            handle = open(folder / f"cpu-{cpu}.lock", "a+b")  # noqa: SIM115 (held past the loop)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            held[cpu] = handle
        if len(held) < threads:
            yield set(), f"fewer than {threads} of the machine's CPUs were free"
        else:
            yield set(held), ""
    finally:
        for handle in held.values():
            handle.close()  # closing the last descriptor releases the lock
