"""A sweep on a Dask LocalCluster against the same sweep in sequence (`make bench`).

Four hnswlib builds (one thread each, one search thread) run through annbench's own sweep
runner, first with the process executor (one job after another), then with the dask executor
(annbench's LocalCluster: one worker holding every CPU), each into a fresh folder; the two
alternate when ``rounds`` > 1. The figure to read is speed-up / ideal:

    slots = max(1, cores // threads per job)      jobs that fit on the machine at once
    ideal = jobs / ceil(jobs / slots)             the issue's "jobs x threads / cores" waves

so 4 one-thread jobs on 2 cores have ideal 2, and 8 two-thread jobs on 16 cores ideal 8. It is
printed with and without the cluster's start-up; the goal is >= 0.85 on 8+ cores (on fewer,
the scheduler, the client and the workers' own start share the cores with the jobs). From
the jobs' recorded time stamps it also prints the refill gap (how long a freed slot waited
for the next job), the per-job overhead before the build, and the contention factor (a
job's build time in the parallel sweep over its build time alone).
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from pathlib import Path

GOAL = 0.85


def bench_dask_sweep(
    n: int = 40_000,
    dim: int = 64,
    n_queries: int = 200,
    ef_construction: tuple[int, ...] = (64, 96, 128, 160),
    rounds: int = 1,
) -> dict[str, float]:
    from annbench.datasets.groundtruth import save_with_ground_truth
    from annbench.datasets.synthetic import make_synthetic
    from annbench.run.executors.dask import connect
    from annbench.run.plan import expand, parse_experiment

    cores = len(os.sched_getaffinity(0))
    threads = 1
    with tempfile.TemporaryDirectory(prefix="annbench-bench-dask-") as folder:
        folder = Path(folder)
        dataset = make_synthetic("blobs", {"n": n, "n_queries": n_queries, "dim": dim}, seed=0)
        path = save_with_ground_truth(dataset, folder / "sweep.hdf5", progress=False)
        experiment = parse_experiment(
            {
                "datasets": [str(path)],
                "adapters": [
                    {
                        "name": "hnswlib",
                        "build": {"ef_construction": list(ef_construction)},
                        "query": {"ef": [10, 40]},
                    }
                ],
                "build_threads": [threads],
                "search_threads": [threads],
            }
        )
        jobs = expand(experiment, folder)
        seconds: dict[str, list[float]] = {"process": [], "dask": [], "dask+start": []}
        results: dict[str, list] = {}
        for number in range(rounds):
            order = ("process", "dask") if number % 2 == 0 else ("dask", "process")
            for executor in order:
                if executor == "process":
                    took, results["process"] = _sweep(jobs, folder / f"p{number}", "process")
                    seconds["process"].append(took)
                    continue
                start = time.perf_counter_ns()
                client = connect(None)  # the LocalCluster `run --executor dask` starts
                started = (time.perf_counter_ns() - start) / 1e9
                try:
                    address = client.scheduler.address
                    took, results["dask"] = _sweep(
                        jobs, folder / f"d{number}", "dask", {"scheduler": address}
                    )
                finally:
                    client.cluster.close()
                    client.close()
                seconds["dask"].append(took)
                seconds["dask+start"].append(took + started)
    return _report(seconds, results, len(jobs), threads, cores)


def _sweep(jobs, results_dir: Path, executor: str, options=None):
    from annbench.run.runner import run_sweep
    from annbench.store.results import read_result

    start = time.perf_counter_ns()
    outcomes = run_sweep(jobs, results_dir, executor=executor, options=options or {})
    took = (time.perf_counter_ns() - start) / 1e9
    bad = [o for o in outcomes if o.status != "ok"]
    if bad:
        raise RuntimeError(f"{len(bad)} jobs failed: {bad[0].error}")
    return took, [read_result(o.path) for o in outcomes]


def _report(seconds, results, jobs: int, threads: int, cores: int) -> dict[str, float]:
    slots = max(1, cores // threads)
    ideal = jobs / math.ceil(jobs / slots)
    sequential = statistics.median(seconds["process"])
    figures = {"ideal": ideal, "sequential_s": sequential}
    for name in ("dask", "dask+start"):
        took = statistics.median(seconds[name])
        figures[f"{name}_s"] = took
        figures[f"{name}_efficiency"] = sequential / took / ideal
    timeline = _timeline(results["dask"], slots)
    alone = {r.job.run_id: r.build_time_ns for r in results["process"]}
    contention = statistics.median(r.build_time_ns / alone[r.job.run_id] for r in results["dask"])
    figures.update(timeline, contention=contention)
    load = os.getloadavg()[0]
    print(
        f"dask sweep, {jobs} hnswlib jobs x {threads} thread on {cores} cores (load average "
        f"{load:.1f}: other work on the machine slows the parallel sweep most): in sequence "
        f"{sequential:.1f} s, on the LocalCluster {figures['dask_s']:.1f} s "
        f"(+ start-up: {figures['dask+start_s']:.1f} s); ideal = jobs / ceil(jobs / "
        f"(cores // threads)) = {ideal:g}"
    )
    print(
        f"  speed-up / ideal: {figures['dask_efficiency']:.2f} without the cluster's start-up, "
        f"{figures['dask+start_efficiency']:.2f} with it (goal >= {GOAL} on 8+ cores; "
        f"{'met' if figures['dask_efficiency'] >= GOAL else 'not met'} here)"
    )
    print(
        f"  refill gap (a freed slot waiting for the next job): max "
        f"{timeline['refill_gap_max_ms']:.0f} ms; per job before its build: "
        f"{timeline['before_build_ms']:.0f} ms (process start, imports, mapped load); "
        f"contention (build in the sweep / build alone): {contention:.2f}"
    )
    return figures


def _timeline(results, slots: int) -> dict[str, float]:
    """Idle time in the parallel sweep, from the jobs' own time stamps (ns, one clock)."""
    spans = sorted(
        (r.run_info["timeline_ns"]["task_start"], r.run_info["timeline_ns"]["sweep_end"])
        for r in results
    )
    ends = sorted(end for _, end in spans)
    later = [start for start, _ in spans[slots:]]
    gaps = [max(0, start - end) for start, end in zip(later, ends)]
    before = [
        r.run_info["timeline_ns"]["build_start"] - r.run_info["timeline_ns"]["task_start"]
        for r in results
    ]
    return {
        "refill_gap_max_ms": max(gaps, default=0) / 1e6,
        "before_build_ms": statistics.median(before) / 1e6,
    }


if __name__ == "__main__":
    bench_dask_sweep()
