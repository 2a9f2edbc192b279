"""Making and importing datasets: peak memory against the base's size, and the time of
`datasets make` against a bare faiss.knn on the same arrays (issue 20).

Run from the repository root with the BLAS environment unset, as `make bench` does:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_datasets.py
or one of them alone:
    .venv/bin/python -c 'from benchmarks.bench_datasets import bench_make_time; bench_make_time()'
Temporary files (about 3 GB for the memory bench) go to a temporary folder that is removed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEMORY_GOAL = 1.5  # peak RSS above start-up, in float32 bases
TIME_GOAL = 1.1  # make / faiss.knn

CHILD = """
import json, sys
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
import numpy, h5py, faiss, numba, annbench.cli
start = status("VmRSS")
code = annbench.cli.main(sys.argv[1:])
print(json.dumps({"start": start, "peak": status("VmHWM"), "code": code or 0}))
"""


def _measured_child(argv: list[str]) -> dict[str, int]:
    """Run `annbench argv` in a fresh interpreter; its start-up RSS (libraries loaded) and
    VmHWM (not ru_maxrss, which a child inherits across fork+exec)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_fvecs_in_blocks(path: Path, n: int, dim: int, rows: int = 100_000) -> None:
    """A seeded standard-normal .fvecs of n x dim, written without holding it whole."""
    from annbench.datasets.formats import write_vecs

    rng = np.random.default_rng(0)
    part = path.with_suffix(".part.fvecs")
    with open(path, "wb") as out:
        for start in range(0, n, rows):
            block = rng.standard_normal((min(rows, n - start), dim), dtype=np.float32)
            write_vecs(part, block)
            out.write(part.read_bytes())
    part.unlink()


def bench_dataset_memory(n: int = 2_000_000, dim: int = 128) -> dict[str, float]:
    """Peak RSS of `datasets make` (blobs) and `datasets import` (.fvecs) of n x dim, in
    float32 bases, as printed: peak / base and the same above the start-up RSS."""
    base = n * dim * 4
    results = {}
    with tempfile.TemporaryDirectory(prefix="annbench-bench-datasets-") as folder:
        folder = Path(folder)
        common = ["--data-dir", str(folder / "data"), "--results-dir", str(folder / "none")]
        make = [*common, "datasets", "make", "made", "-g", "blobs", "-p", f"n={n}"]
        results["make"] = _measured_child([*make, "-p", f"dim={dim}", "-p", "n_queries=100"])
        (folder / "data" / "made.hdf5").unlink()
        write_fvecs_in_blocks(folder / "base.fvecs", n + 1000, dim)
        argv = [*common, "datasets", "import", "imported", str(folder / "base.fvecs")]
        results["import"] = _measured_child([*argv, "--n-queries", "1000"])
    ratios = {}
    for name, run in results.items():
        above = (run["peak"] - run["start"]) / base
        ratios[name] = above
        print(
            f"datasets {name} {n:,} x {dim} (base {base / 2**30:.2f} GiB): peak RSS / base = "
            f"{run['peak'] / base:.2f}; above start-up ({run['start'] / 2**20:.0f} MiB) "
            f"{above:.2f} (goal <= {MEMORY_GOAL})"
        )
    return ratios


class _Phases(logging.Handler):
    """Collects the per-phase times that `write_dataset_parts` logs at debug level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def bench_make_time(
    n: int = 1_000_000, dim: int = 128, n_queries: int = 10_000, k: int = 100, rounds: int = 2
) -> float:
    """`datasets make` of blobs n x dim with n_queries and top-k ground truth, against
    faiss.knn(queries, base, k) on the arrays it wrote, alternated; returns the ratio of the
    medians."""
    import faiss
    import h5py

    from annbench.datasets.build import make_dataset_file

    phases = _Phases()
    logger = logging.getLogger("annbench.datasets.build")
    logger.addHandler(phases)
    logger.setLevel(logging.DEBUG)
    make_seconds, knn_seconds, make_cpu, knn_cpu = [], [], [], []
    try:
        with tempfile.TemporaryDirectory(prefix="annbench-bench-make-") as folder:
            path = Path(folder) / "blobs.hdf5"
            params = {"n": n, "dim": dim, "n_queries": n_queries}
            for _ in range(rounds):
                start, cpu = time.perf_counter_ns(), time.process_time_ns()
                make_dataset_file(path, "blobs", params, k=k, overwrite=True, progress=False)
                make_seconds.append((time.perf_counter_ns() - start) / 1e9)
                make_cpu.append((time.process_time_ns() - cpu) / 1e9)
                with h5py.File(path, "r") as f:
                    base, queries = f["train"][:], f["test"][:]
                start, cpu = time.perf_counter_ns(), time.process_time_ns()
                faiss.knn(queries, base, k)
                knn_seconds.append((time.perf_counter_ns() - start) / 1e9)
                knn_cpu.append((time.process_time_ns() - cpu) / 1e9)
                del base, queries
    finally:
        logger.removeHandler(phases)
    ratio = float(np.median(make_seconds) / np.median(knn_seconds))
    print(
        f"datasets make blobs {n:,} x {dim}, {n_queries:,} queries, k={k}: "
        f"{np.median(make_seconds):.1f} s; faiss.knn {np.median(knn_seconds):.1f} s; "
        f"ratio {ratio:.2f} (goal <= {TIME_GOAL}; {os.cpu_count()} cores)"
    )
    # on a shared machine the CPU time of both sides is the steadier figure
    print(
        f"  CPU time: make {np.median(make_cpu):.1f} s, faiss.knn {np.median(knn_cpu):.1f} s, "
        f"ratio {np.median(make_cpu) / np.median(knn_cpu):.2f}"
    )
    for message in phases.messages:
        print(f"  phases: {message.split(': ', 1)[-1]}")
    return ratio


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    bench_dataset_memory()
    bench_make_time()
