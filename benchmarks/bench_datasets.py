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
        self.rounds: list[dict[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        phases = getattr(record, "phases", None)
        if phases is not None:
            self.rounds.append(dict(phases))


def _timed(call, *args, **kwargs) -> tuple[float, float]:
    """Wall and CPU seconds of ``call(*args, **kwargs)``."""
    start, cpu = time.perf_counter_ns(), time.process_time_ns()
    call(*args, **kwargs)
    return (time.perf_counter_ns() - start) / 1e9, (time.process_time_ns() - cpu) / 1e9


def bench_make_time(
    n: int = 1_000_000, dim: int = 128, n_queries: int = 10_000, k: int = 100, rounds: int = 3
) -> float:
    """`datasets make` of blobs n x dim with n_queries and top-k ground truth, against a bare
    faiss.knn(queries, base, k) on the same arrays; returns the median per-round ratio.

    The machine's speed drifts within minutes, so the calls alternate knn, make, knn, make,
    ..., knn, and each make is compared with the mean of the two knn calls around it."""
    import faiss

    from annbench.datasets.build import make_dataset_file
    from annbench.datasets.synthetic import collect, generator_parts, resolve_params

    params = {"n": n, "dim": dim, "n_queries": n_queries}
    base, queries, _ = collect(generator_parts("blobs", resolve_params("blobs", params), 0))
    phases = _Phases()
    logger = logging.getLogger("annbench.datasets.build")
    level = logger.level
    logger.addHandler(phases)
    logger.setLevel(logging.DEBUG)
    makes, knns = [], [_timed(faiss.knn, queries, base, k)]
    try:
        with tempfile.TemporaryDirectory(prefix="annbench-bench-make-") as folder:
            path = Path(folder) / "blobs.hdf5"
            for _ in range(rounds):
                makes.append(
                    _timed(
                        make_dataset_file,
                        path,
                        "blobs",
                        params,
                        k=k,
                        overwrite=True,
                        progress=False,
                    )
                )
                knns.append(_timed(faiss.knn, queries, base, k))
    finally:
        logger.removeHandler(phases)
        logger.setLevel(level)
    around = [np.add(before, after) / 2 for before, after in zip(knns[:-1], knns[1:])]
    ratios = [make[0] / knn[0] for make, knn in zip(makes, around, strict=True)]
    cpu_ratios = [make[1] / knn[1] for make, knn in zip(makes, around, strict=True)]
    ratio = float(np.median(ratios))
    print(
        f"datasets make blobs {n:,} x {dim}, {n_queries:,} queries, k={k} / faiss.knn on the "
        f"same arrays: median of {rounds} rounds {ratio:.2f} (goal <= {TIME_GOAL}; "
        f"{os.cpu_count()} cores); CPU time {np.median(cpu_ratios):.2f}"
    )
    for i, (make, knn, seconds) in enumerate(zip(makes, around, phases.rounds, strict=False)):
        parts = ", ".join(f"{name} {value:.2f}" for name, value in seconds.items())
        print(
            f"  round {i + 1}: make {make[0]:.1f} s (CPU {make[1]:.1f}), faiss.knn before and "
            f"after {knns[i][0]:.1f} / {knns[i + 1][0]:.1f} s (CPU {knn[1]:.1f}), ratio "
            f"{make[0] / knn[0]:.2f}; phases (s): {parts}"
        )
    return ratio


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    bench_dataset_memory()
    bench_make_time()
