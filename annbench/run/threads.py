"""Thread pools around a build or a search: capped where the spec says, and the count a
library uses where it does not."""

from __future__ import annotations

import contextlib
import os


def default_threads() -> int:
    """The threads a library runs with when the spec leaves them unset: the size of the
    OpenMP pool in this process (faiss and most C++ libraries), else the CPUs the job may
    use (libraries that start their own threads size them so)."""
    from threadpoolctl import threadpool_info

    pools = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]
    return max(pools) if pools else len(os.sched_getaffinity(0))


def thread_limit(threads: int | None):
    """Cap OpenMP and BLAS thread pools (faiss, numpy) for a block; no-op for None."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


def threads_needed(job, offered: int) -> int:
    """The CPU threads ``job`` keeps busy at once: the most of its build threads, search
    threads and client counts; an unset count (None: the library's default) takes the whole
    worker, ``offered``."""
    counts = [job.build_threads, *job.search_threads, *job.clients]
    return max(offered if count is None else int(count) for count in counts)
