"""annbench against the raw libraries, measured side by side in one run (`make bench`).

Timings on shared machines are noisy; the ratios, measured in alternation in the same
process, are what to read. Each figure is the median of several alternating rounds.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from bench_dask import bench_dask_sweep
from bench_datasets import bench_dataset_memory, bench_make_time
from bench_lid import bench_lid, bench_lid_million

ROUNDS = 5
PAIRED_ROUNDS = 60


def median_seconds(function, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        function()
        times.append((time.perf_counter_ns() - start) / 1e9)
    return statistics.median(times)


def bench_ground_truth(n: int = 200_000, n_queries: int = 2_000, dim: int = 64, k: int = 100):
    import faiss

    from annbench.datasets.groundtruth import exact_knn

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, dim), dtype=np.float32)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)

    def direct():
        index = faiss.IndexFlatL2(dim)
        index.add(base)
        index.search(queries, k)

    def harness():
        exact_knn(base, queries, "euclidean", k, progress=False)

    direct(), harness()  # warm up BLAS threads and caches
    ours, theirs = [], []
    for _ in range(ROUNDS):
        theirs.append(median_seconds(direct, 1))
        ours.append(median_seconds(harness, 1))
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(
        f"ground truth {n} x {dim}, {n_queries} queries, k={k}: annbench {ours_s:.3f} s, "
        f"faiss IndexFlatL2 add+search {theirs_s:.3f} s, ratio {ours_s / theirs_s:.3f} "
        "(goal <= 1.1)"
    )


def bench_filtered_ground_truth(n: int = 100_000, n_queries: int = 500, dim: int = 64) -> None:
    """Exact filtered ground truth (top-100) against bare brute force over the same passing
    subsets, done two ways: gathering each subset and faiss.knn on it (the obvious way), and
    faiss's flat index with a bitmap selector (the same scan ours uses, without re-scoring);
    and against unfiltered ground truth on the same data."""
    import faiss

    from annbench.datasets.attributes import (
        filtered_ground_truth,
        make_attributes,
        make_filter_workload,
    )
    from annbench.datasets.groundtruth import exact_knn
    from annbench.datasets.synthetic import make_synthetic

    params = {"n": n, "n_queries": n_queries, "dim": dim, "n_clusters": 50}
    dataset = make_synthetic("blobs", params, seed=0)
    unfiltered = median_seconds(
        lambda: exact_knn(dataset.base, dataset.queries, "euclidean", 100, progress=False), 1
    )
    attributes = make_attributes(dataset, seed=0)
    for kind, selectivity in (("range", 0.5), ("range", 0.1), ("range", 0.01), ("tags", 0.01)):
        filters = make_filter_workload(dataset, attributes, kind, selectivity, "none").filters

        def gathered(filters=filters):
            for group in filters.groups():
                passing = filters.passing(attributes, int(group[0]))
                faiss.knn(dataset.queries[group], dataset.base[passing], min(100, len(passing)))

        def selected(filters=filters):
            index = faiss.IndexFlatL2(dim)
            index.add(dataset.base)
            for group in filters.groups():
                mask = filters.mask(attributes, int(group[0]))
                bits = np.packbits(mask, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(bits) * 8, faiss.swig_ptr(bits))
                params = faiss.SearchParameters(sel=selector)
                index.search(dataset.queries[group], min(100, int(mask.sum())), params=params)

        def ours(filters=filters):
            filtered_ground_truth(dataset, attributes, filters, 100)

        ours(), gathered(), selected()  # warm up
        gathered_s = statistics.median(median_seconds(gathered, 1) for _ in range(ROUNDS))
        selected_s = statistics.median(median_seconds(selected, 1) for _ in range(ROUNDS))
        ours_s = statistics.median(median_seconds(ours, 1) for _ in range(ROUNDS))
        print(
            f"filtered ground truth {kind} s={selectivity:g}, {n} x {dim}, {n_queries} queries "
            f"({len(filters.groups())} filter groups): annbench {ours_s:.3f} s; brute force over "
            f"the passing subsets: gathered + faiss.knn {gathered_s:.3f} s (ratio "
            f"{ours_s / gathered_s:.3f}), faiss flat + bitmap selector {selected_s:.3f} s "
            f"(ratio {ours_s / selected_s:.3f}; goal <= 1.2); unfiltered ground truth "
            f"{unfiltered:.3f} s (x{ours_s / unfiltered:.2f})"
        )


def bench_hnswlib_query(n: int = 100_000, n_queries: int = 1_000, dim: int = 64, k: int = 10):
    from annbench.adapters.registry import get_adapter, load_adapter_class
    from annbench.run.workloads.static import timed_search

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, dim), dtype=np.float32)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    spec = get_adapter("hnswlib")
    adapter = load_adapter_class(spec.module_path, spec.class_name)(
        "euclidean", M=16, ef_construction=128
    )
    adapter.build(base, np.arange(n))
    for ef in (10, 40, 160):
        adapter.set_query_params(ef=ef)
        timed_search(adapter, queries, k, warmup=2, repeats=1)
        harness_ns, direct_ns = [], []
        for round_number in range(PAIRED_ROUNDS):  # alternate who goes first: no order bias
            for who in ("harness", "direct") if round_number % 2 else ("direct", "harness"):
                if who == "harness":
                    harness_ns.extend(timed_search(adapter, queries, k, warmup=0, repeats=1)[2])
                else:
                    start = time.perf_counter_ns()
                    adapter.index.knn_query(queries, k=k)
                    direct_ns.append(time.perf_counter_ns() - start)
        ours = n_queries / (statistics.median(harness_ns) / 1e9)
        theirs = n_queries / (statistics.median(direct_ns) / 1e9)
        print(
            f"hnswlib batch query {n} x {dim}, ef={ef}: annbench-reported {ours:,.0f} QPS, "
            f"direct knn_query {theirs:,.0f} QPS, ratio {ours / theirs:.3f} (goal >= 0.97)"
        )


GT_MEMORY_CODE = """
import resource, sys, numpy as np
from annbench.datasets.groundtruth import exact_knn
n, dim, metric = 1_000_000, 128, sys.argv[1]
rng = np.random.default_rng(0)
base = rng.standard_normal((n, dim), dtype=np.float32)
queries = rng.standard_normal((1000, dim), dtype=np.float32)
exact_knn(base[:2048], queries[:10], metric, 100, progress=False)  # load faiss and BLAS first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
exact_knn(base, queries, metric, 100, progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((base.nbytes + max(peak - before, 0)) / base.nbytes)
"""


def bench_ground_truth_memory() -> None:
    """Peak memory of exact ground truth on a 1M x 128 base, as a multiple of the base."""
    import subprocess
    import sys

    for metric in ("euclidean", "angular"):
        out = subprocess.run(
            [sys.executable, "-c", GT_MEMORY_CODE, metric],
            check=True,
            capture_output=True,
            text=True,
        )
        ratio = float(out.stdout.strip())
        print(
            f"ground truth memory, 1M x 128 {metric}: base + peak extra = {ratio:.3f} x base "
            "(goal <= 1.5)"
        )


def bench_build_threads(n: int = 100_000, dim: int = 64) -> None:
    """hnswlib build through the adapter with 2 threads against 1, alternating."""
    from annbench.adapters.registry import get_adapter, load_adapter_class
    from annbench.run.threads import thread_limit

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, dim), dtype=np.float32)
    spec = get_adapter("hnswlib")
    adapter_class = load_adapter_class(spec.module_path, spec.class_name)
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(2):
        for threads in (1, 2):
            adapter = adapter_class("euclidean", build_threads=threads, M=16, ef_construction=128)
            with thread_limit(threads):
                start = time.perf_counter_ns()
                adapter.build(base, np.arange(n))
                seconds[threads].append((time.perf_counter_ns() - start) / 1e9)
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    print(
        f"hnswlib build {n} x {dim} (M=16, efC=128): 1 thread {one:.1f} s, 2 threads {two:.1f} s, "
        f"speed-up {one / two:.2f}x"
    )


def bench_runbook_ground_truth(n: int = 100_000, n_queries: int = 1_000, dim: int = 64):
    """Per-step exact ground truth of a sliding-window runbook (40 steps, small deltas):
    the incremental candidate lists against one brute force per step (same re-scoring)."""
    from annbench.datasets.runbook_truth import brute_force_steps, step_ground_truth
    from annbench.run.runbook_generators import sliding_window
    from annbench.run.runbooks import active_sets, resolve

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, dim), dtype=np.float32)
    queries = {"": rng.standard_normal((n_queries, dim), dtype=np.float32)}
    steps = resolve(sliding_window(n, steps=40, window=20), n)
    searches = [(step.queries, mask) for step, mask in active_sets(steps, n)]
    results = {}

    def incremental():
        results["incremental"] = step_ground_truth(base, queries, "euclidean", searches, 100)

    def brute():
        results["brute"] = brute_force_steps(base, queries, "euclidean", searches, 100)

    ours, theirs = median_seconds(incremental, 1), median_seconds(brute, 1)
    same = all(np.array_equal(a[0], b[0]) for a, b in zip(results["incremental"], results["brute"]))
    print(
        f"runbook ground truth {n} x {dim}, {n_queries} queries, {len(searches)} search steps "
        f"(sliding window, 20 of 40 chunks active): incremental {ours:.2f} s, one brute force "
        f"per step {theirs:.2f} s, speed-up {theirs / ours:.2f}x, identical: {same}"
    )


def bench_clients(n: int = 100_000, dim: int = 64, k: int = 10, seconds: float = 2.0) -> None:
    """One client through the clients workload (a forked process, the adapter's search, the
    harness's loop and clock) against a tight loop calling hnswlib's knn_query on one query at
    a time in this process, alternating; then the no-op ceiling at each level and mode."""
    from annbench.adapters.registry import get_adapter, load_adapter_class
    from annbench.run.threads import thread_limit
    from annbench.run.workloads.client_pool import run_level
    from annbench.run.workloads.clients import NoOp
    from annbench.studies.concurrency import client_levels

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, dim), dtype=np.float32)
    queries = rng.standard_normal((1_000, dim), dtype=np.float32)
    spec = get_adapter("hnswlib")
    adapter = load_adapter_class(spec.module_path, spec.class_name)(
        "euclidean", M=16, ef_construction=128
    )
    adapter.build(base, np.arange(n))
    adapter.search_threads = 1

    def direct() -> float:
        index, count = adapter.index, 0
        deadline = time.perf_counter_ns() + int(seconds * 1e9)
        start = time.perf_counter_ns()
        while time.perf_counter_ns() < deadline:
            row = count % len(queries)
            index.knn_query(queries[row : row + 1], k=k, num_threads=1)
            count += 1
        return count / ((time.perf_counter_ns() - start) / 1e9)

    for ef in (10, 80):
        adapter.set_query_params(ef=ef)
        ratios = []
        with thread_limit(1):
            for round_number in range(ROUNDS):
                order = ("harness", "direct") if round_number % 2 else ("direct", "harness")
                measured = {}
                for who in order:
                    if who == "direct":
                        measured[who] = direct()
                    else:
                        level = run_level(adapter, queries, k, [0], 0.2, seconds, "process")
                        measured[who] = level.qps
                ratios.append(measured["harness"] / measured["direct"])
        print(
            f"clients, hnswlib {n} x {dim} ef={ef}, 1 client: annbench-measured QPS / tight "
            f"direct knn_query loop = {statistics.median(ratios):.3f} (median of {ROUNDS} "
            "alternating rounds; goal >= 0.9)"
        )
    for mode in ("process", "thread"):
        figures = []
        for clients in client_levels():
            offsets = [c * len(queries) // clients for c in range(clients)]
            level = run_level(NoOp(k), queries, k, offsets, 0.2, seconds, mode)
            figures.append(f"{clients}: {level.qps:,.0f}")
        print(f"clients, no-op ceiling ({mode} clients), QPS per level: " + "; ".join(figures))


def blas_kernel() -> str:
    """Which BLAS numpy runs here, and the core type it chose."""
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
        f"{p.get('num_threads')} threads)"
        for p in pools
    )


def main() -> None:
    import os

    import numpy  # noqa: F401  (loads the BLAS that blas_kernel reports)

    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    print(
        f"BLAS: {blas_kernel()}; OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE "
        f"{'still set: ' + ', '.join(unset) if unset else 'unset for this command'}"
    )
    bench_clients()
    bench_runbook_ground_truth()
    bench_ground_truth()
    bench_filtered_ground_truth()
    bench_ground_truth_memory()
    bench_dataset_memory()
    bench_make_time()
    bench_hnswlib_query()
    bench_lid()
    bench_build_threads()
    bench_dask_sweep()
    bench_lid_million()  # last: about 4-7 minutes on 2 cores


if __name__ == "__main__":
    main()
