"""Pointwise LID: speed against scikit-dimension's MLE, and memory at a million vectors.

Run from the repository root with the BLAS environment unset, as `make bench` does:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_lid.py
(the pinned OpenBLAS kernel slows numpy's reference and flatters the ratio).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PINNED_BLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SPEED_GOAL = 10.0
VALUES_GOAL = 1e-4
MEMORY_GOAL = 4.0  # peak above start-up, in bases: the base itself plus 3x base


def subspace(n: int, dim: int, d_int: int, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """float32 (n, dim): a random d_int-dimensional subspace plus a little noise, made block
    by block (no float64 copy of the whole)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, d_int)))
    base = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        rows = min(n, start + 100_000) - start
        base[start : start + rows] = rng.standard_normal((rows, d_int)) @ basis.T
        base[start : start + rows] += rng.normal(0, noise, (rows, dim)).astype(np.float32)
    return base


def bench_lid(
    n: int = 100_000, dim: int = 32, d_int: int = 12, k: int = 100, rounds: int = 3
) -> None:
    """annbench's pointwise LID against scikit-dimension's MLE (both on 2 threads), same data.

    Ours runs once cold (numba loading its kernels), then alternates with the reference:
    each round's ratio is the reference's time over the mean of ours just before and just
    after it, so drift of the shared machine cancels; the figure is the median round.
    """
    import skdim

    from annbench.intrinsic.estimators import pointwise_lid

    base = subspace(n, dim, d_int)

    def ours() -> tuple[np.ndarray, float]:
        start = time.perf_counter_ns()
        values = pointwise_lid(base, k, progress=False)
        return values, (time.perf_counter_ns() - start) / 1e9

    _, cold_s = ours()
    lid, previous_s = ours()
    ratios, differences = [], []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        reference = skdim.id.MLE().fit(base.astype(np.float64), n_neighbors=k, n_jobs=2)
        theirs_s = (time.perf_counter_ns() - start) / 1e9
        lid, after_s = ours()
        ratios.append(theirs_s / ((previous_s + after_s) / 2))
        differences.append(
            float((np.abs(lid - reference.dimension_pw_) / reference.dimension_pw_).max())
        )
        print(
            f"  round {len(ratios)}: annbench {previous_s:.2f} s / {after_s:.2f} s, "
            f"scikit-dimension {theirs_s:.1f} s, ratio {ratios[-1]:.2f}x"
        )
        previous_s = after_s
    pinned = [v for v in PINNED_BLAS if v in os.environ]
    goal = (
        f"not comparable: {', '.join(pinned)} set (run with env -u {' -u '.join(PINNED_BLAS)})"
        if pinned
        else f"goal >= {SPEED_GOAL:.0f}x"
    )
    print(
        f"pointwise LID {n} x {dim} (d_int {d_int}, k={k}): speed-up against scikit-dimension "
        f"MLE {statistics.median(ratios):.1f}x, median of {rounds} alternating rounds "
        f"({', '.join(f'{r:.1f}' for r in ratios)}; {goal}); annbench cold {cold_s:.1f} s; "
        f"max relative difference {max(differences):.1e} (goal <= {VALUES_GOAL:.0e}), "
        f"mean LID {lid.mean():.2f}"
    )


MILLION_CODE = """
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[5])
from bench_lid import subspace
from annbench.intrinsic.estimators import pointwise_lid

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(l.split()[1]) * 1024 for l in lines if l.startswith(field + ":"))

n, dim, d_int, k = (int(a) for a in sys.argv[1:5])
pointwise_lid(subspace(3000, dim, d_int, seed=1), k, progress=False)  # numba, faiss, BLAS
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # peak RSS from here on
start_rss = status("VmRSS")
base = subspace(n, dim, d_int)
start = time.perf_counter_ns()
lid = pointwise_lid(base, k)
seconds = (time.perf_counter_ns() - start) / 1e9
print(seconds, (status("VmHWM") - start_rss) / base.nbytes, float(np.nanmean(lid)))
"""


def bench_lid_million(n: int = 1_000_000, dim: int = 32, d_int: int = 12, k: int = 100) -> None:
    """Pointwise LID of 1M vectors in a fresh process: time, and peak memory above start-up
    as a multiple of the base (the base included), with the progress bar on stderr."""
    print(
        f"pointwise LID {n} x {dim} (d_int {d_int}, k={k}) in a subprocess: takes about "
        "4-7 min on 2 cores (100x the pairs of 100k)",
        flush=True,
    )
    out = subprocess.run(
        [sys.executable, "-c", MILLION_CODE, str(n), str(dim), str(d_int), str(k), HERE],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    seconds, peak, mean = (float(v) for v in out.stdout.split())
    print(
        f"pointwise LID {n} x {dim}: {seconds:.0f} s, peak RSS above start-up {peak:.2f} x base "
        f"(goal <= {MEMORY_GOAL:.0f}: the base + 3x base), mean LID {mean:.2f}"
    )


if __name__ == "__main__":
    bench_lid()
    bench_lid_million()
