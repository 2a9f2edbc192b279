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


def shared_folder(folder: Path) -> Path:
    """``folder``, made if missing so that every user of the machine can add files to it
    (sticky, like /tmp): the first user's umask must not lock the others out."""
    folder.mkdir(parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o7777 != 0o1777:
        with contextlib.suppress(OSError):
            folder.chmod(0o1777)
    return folder


def shared_lock_file(path: Path):
    """A lock file opened for flock, created readable and writable by every user."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    with contextlib.suppress(OSError):
        os.fchmod(descriptor, 0o666)
    return os.fdopen(descriptor, "r+b")


@contextlib.contextmanager
def cpus_taken(threads: int, offered: int) -> Iterator[tuple[set[int], str]]:
    """Hold ``threads`` free CPUs of this process's affinity for a block: (the CPUs, "") or,
    where the job must run unpinned, (an empty set, why): the worker offers more threads than
    it has CPUs, or too few CPUs are free."""
    cpus = sorted(os.sched_getaffinity(0))
    if offered > len(cpus):
        yield set(), f"the worker offers {offered} threads on {len(cpus)} CPUs"
        return
    held: dict[int, object] = {}
    try:
        folder = shared_folder(lock_folder())
    except OSError as exc:
        yield set(), f"the CPU lock folder is unusable ({exc})"
        return
    try:
        for cpu in cpus:
            if len(held) == threads:
                break
            try:
                handle = shared_lock_file(folder / f"cpu-{cpu}.lock")
            except OSError:
                continue  # another user's lock file that this user cannot open
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
