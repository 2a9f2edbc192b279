"""The worker: runs one Job and writes one result file.

It loads the dataset, builds the index in the job's insertion order (timing the build), hands
the adapter to the job's workload (which times the searches) and stores what came back. Every
executor (inline, subprocess, container, cluster) ends up in ``run_job``. Whatever goes wrong
inside the adapter is caught here and stored as a failed run with its reason.
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from annbench.errors import UserError, one_line
from annbench.run.threads import default_threads, thread_limit
from annbench.store.jobs import Job
from annbench.store.results import RunResult, write_result_file


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _rss_bytes() -> int:
    """This process's anonymous and shared-memory resident pages: what an index allocates.
    File pages are left out, since a memory-mapped base's clean pages may be dropped from RSS
    at any time (and were touched before the build)."""
    fields = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssShmem"):
                fields[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    if len(fields) == 2:
        return fields["RssAnon"] + fields["RssShmem"]
    import psutil

    return psutil.Process().memory_info().rss


def _peak_rss_bytes() -> int:
    """This process's resident-set high-water mark (VmHWM). ru_maxrss is no substitute on
    Linux: a child inherits its parent's figure across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


CGROUP_PEAK_FILES = (
    "/sys/fs/cgroup/memory/memory.max_usage_in_bytes",  # cgroup v1
    "/sys/fs/cgroup/memory.peak",  # cgroup v2
)


def _container_peak_bytes() -> int | None:
    """The container's peak memory as its cgroup counts it; None outside a container."""
    from annbench.store.manifest import IMAGE_ENV

    if not os.environ.get(IMAGE_ENV):
        return None
    for name in CGROUP_PEAK_FILES:
        try:
            return int(Path(name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return None


def run_job(
    job: Job, out: str | Path, *, data: str | None = None, info: dict | None = None
) -> Path:
    """Measure ``job`` and write its result (ok or failed) to the file ``out``. ``data`` is a
    local copy of the job's dataset to read instead of ``job.dataset_path`` (which the result
    keeps); ``info`` is what the executor recorded before the job started (time stamps, CPUs),
    kept in the result's ``run_info``."""
    from annbench.store.manifest import environment

    started = _now()
    run_info = {**(info or {}), "timeline_ns": {**(info or {}).get("timeline_ns", {})}}
    stamp(run_info, "job_start")
    try:
        result = measure(job, data or job.dataset_path, run_info)
    except Exception as exc:  # an adapter can fail in any way; the sweep must go on
        result = RunResult(job=job, status="failed", error=one_line(exc))
    result.started_at, result.finished_at = started, _now()
    result.environment = environment()
    result.run_info = run_info
    return write_result_file(out, result)


def stamp(run_info: dict, event: str) -> None:
    """Note when ``event`` happened. Wall-clock time (not perf_counter), so that stamps taken
    by the executor's process and by this one, or on two machines, fall on one time line."""
    run_info["timeline_ns"][event] = time.time_ns()


def measure(job: Job, path: str | None = None, run_info: dict | None = None) -> RunResult:
    """Run ``job`` on the dataset at ``path`` (default: the job's own); time stamps of its
    phases go into ``run_info``."""
    from annbench.adapters.registry import load_adapter_class
    from annbench.analysis.concurrency import QPS_DEFINITION
    from annbench.datasets.groundtruth import normalized
    from annbench.datasets.mapped import is_mapped, load_mapped, prefault
    from annbench.run.orders import insertion_order
    from annbench.run.workloads import clients, filtered, static

    path = path or job.dataset_path
    run_info = {"timeline_ns": {}} if run_info is None else run_info
    if job.runbook:
        return measure_runbook(job)
    # mapped: the jobs on one machine share the file's pages instead of a copy each
    dataset = load_mapped(path, workloads=job.workload)
    run_info["dataset_mapped"] = is_mapped(dataset.base)
    stamp(run_info, "loaded")
    workload = dataset.workloads.get(job.workload) if job.workload else None
    if workload is not None and dataset.attributes is None:
        raise UserError(f"{path} has no attributes for workload {job.workload!r}")
    truth = (workload or dataset).neighbors, (workload or dataset).distances
    if truth[0] is None or job.k > truth[0].shape[1]:
        raise UserError(f"k={job.k} exceeds the stored ground truth of {path}")
    base, queries = dataset.base, dataset.queries
    if job.metric == "angular":
        base, queries = normalized(base), normalized(queries)
    order = insertion_order(
        job.insertion_order, len(base), job.seed, labels=dataset.labels, lid=dataset.lid
    )
    adapter = load_adapter_class(job.adapter_module, job.adapter_class)(
        job.metric, seed=job.seed, build_threads=job.build_threads, **job.build_params
    )
    adapter.attributes = dataset.attributes if workload else None
    ordered = base if job.insertion_order == "original" else np.ascontiguousarray(base[order])
    prefault(ordered)  # a mapped file's pages: neither the build's time nor its RSS delta
    rss_before = _rss_bytes()
    stamp(run_info, "build_start")
    with thread_limit(job.build_threads):
        start = time.perf_counter_ns()
        adapter.build(ordered, order.copy())
        build_ns = time.perf_counter_ns() - start
    stamp(run_info, "build_end")
    rss_after = _rss_bytes()
    del ordered
    result = RunResult(
        job=job,
        build_time_ns=build_ns,
        build_rss_delta_bytes=rss_after - rss_before,
        index_memory_bytes=adapter.memory_bytes(),
        insertion_order=order,
        ground_truth_ids=truth[0][:, : job.k],
        ground_truth_distances=truth[1][:, : job.k],
    )
    if job.clients:
        result.workload_info = {
            "clients": job.clients,
            "client_mode": job.client_mode,
            "duration_s": job.duration_s,
            "qps": QPS_DEFINITION,
        }
        result.points = clients.sweep(adapter, dataset, queries, job)
    elif workload is None:
        result.points = static.sweep(adapter, dataset, queries, job)
    else:
        result.workload_info = {"filter": workload.filters.kind, **workload.info}
        result.query_selectivity, result.query_alpha = workload.selectivity, workload.alpha
        result.points = filtered.sweep(adapter, dataset, queries, job, dataset.attributes, workload)
    stamp(run_info, "sweep_end")
    adapter.close()
    if job.build_threads is None or None in job.search_threads:
        result.default_threads = default_threads()
    result.peak_rss_bytes = _peak_rss_bytes()
    result.container_peak_bytes = _container_peak_bytes()
    return result


def measure_runbook(job: Job) -> RunResult:
    """A streaming job: the runbook's steps, its per-step ground truth read from the cache
    that planning filled (``annbench.run.runbook_plan.prepare``)."""
    from annbench.adapters.registry import load_adapter_class
    from annbench.datasets.runbook_truth import read_step_truth, runbook_content, truth_path
    from annbench.datasets.store import load_dataset
    from annbench.datasets.vectors import geometry
    from annbench.run.runbook_plan import query_sets
    from annbench.run.runbooks import resolve
    from annbench.run.workloads import runbook
    from annbench.store.jobs import runbook_digest, runbook_query_sets

    path = Path(job.dataset_path)
    dataset = load_dataset(path, workloads="")
    steps = resolve(job.runbook, len(dataset.base), labels=dataset.labels, lid=dataset.lid)
    sets = {"": dataset.queries}
    for name, set_path in query_sets(job.runbook, path, job.dataset).items():
        sets[name] = load_dataset(set_path, workloads="").queries
    digest = runbook_digest(job.runbook)
    content = runbook_content(path, runbook_query_sets(job.runbook))
    truth = read_step_truth(truth_path(path, digest, job.k), content, digest)
    if truth is None:
        raise UserError(f"the runbook's ground truth for {path} is missing; plan the run again")
    adapter = load_adapter_class(job.adapter_module, job.adapter_class)(
        job.metric, seed=job.seed, build_threads=job.build_threads, **job.build_params
    )
    seen = {name: geometry(queries, job.metric) for name, queries in sets.items()}
    base_seen = geometry(dataset.base, job.metric)
    points, records = runbook.run(adapter, dataset.base, base_seen, sets, seen, job, steps, truth)
    memory = adapter.memory_bytes()  # the index as the runbook left it
    adapter.close()
    last = points[-1]
    result = RunResult(
        job=job,
        build_time_ns=int(sum(r["seconds"] for r in records if r["kind"] != "search") * 1e9),
        index_memory_bytes=memory,
        ground_truth_ids=last.truth_ids,
        ground_truth_distances=last.truth_distances,
        workload_info={"runbook": job.runbook.get("name", ""), "steps": len(records)},
        points=points,
        steps=records,
    )
    if job.build_threads is None or None in job.search_threads:
        result.default_threads = default_threads()
    result.peak_rss_bytes = _peak_rss_bytes()
    result.container_peak_bytes = _container_peak_bytes()
    return result


USAGE = (
    "usage: python -m annbench.run.worker OUT_FILE [--job JSON] [--data PATH] [--info JSON] "
    "(without --job, the job's JSON on stdin)"
)


def main(argv: list[str] | None = None) -> int:
    """``python -m annbench.run.worker OUT_FILE [--job JSON] [--data PATH] [--info JSON]``;
    without --job the Job's JSON is read from standard input. Executors run it under the guard
    (annbench.run.executors.guard)."""
    args = sys.argv[1:] if argv is None else argv
    options = dict(zip(args[1::2], args[2::2]))
    if not args or len(args) % 2 == 0 or not set(options) <= {"--job", "--data", "--info"}:
        print(USAGE, file=sys.stderr)
        return 2
    text = options["--job"] if "--job" in options else sys.stdin.read()
    info = json.loads(options["--info"]) if "--info" in options else None
    print(run_job(Job.from_json(text), args[0], data=options.get("--data"), info=info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
