"""Pointwise LID in bounded memory: the self-join runs in steps and LID is taken per step, so
no (n, k) array is held; the values stay those of a float64 brute force on every path (several
steps, block-wise preparation, vectors used as given or rotated and scaled)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from annbench.intrinsic import pca, selfjoin
from annbench.intrinsic.estimators import (
    describe,
    neighbour_distances,
    pointwise_lid,
    twonn_from_distances,
)


def brute_force_distances(x: np.ndarray, k: int) -> np.ndarray:
    """float64 distances to the k nearest other rows, by differences, one row at a time."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((len(x), k))
    for i in range(len(x)):
        squared = ((x - x[i]) ** 2).sum(axis=1)
        squared[i] = np.inf
        out[i] = np.sqrt(np.sort(squared)[:k])
    return out


def brute_force_lid(distances: np.ndarray) -> np.ndarray:
    k = distances.shape[1]
    return (k - 1) / np.log(distances[:, -1:] / distances).sum(axis=1)


def subspace(n: int, dim: int, d_int: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, d_int)))
    x = rng.standard_normal((n, d_int)) @ basis.T + rng.normal(0, 0.01, (n, dim))
    return x.astype(np.float32)


@pytest.fixture
def small_steps(monkeypatch):
    """Steps of three query blocks and preparation blocks of 1,000 rows, so that a few
    thousand vectors take every step and block boundary."""
    monkeypatch.setattr(selfjoin, "STEP_ROWS", 3 * selfjoin.QUERY_BLOCK)
    monkeypatch.setattr(selfjoin, "BLOCK_ROWS", 1000)
    monkeypatch.setattr(pca, "BLOCK_ROWS", 1000)


@pytest.mark.parametrize(
    "scale,dtype",
    [
        (1.0, np.float32),  # float32 as given: one copy serves the join and the re-score
        (1e15, np.float32),  # squared norms beyond float32's safe range: rotated and scaled
        (1.0, np.float64),  # float64: re-scored on float64 copies
    ],
)
def test_lid_in_steps_equals_a_float64_brute_force(small_steps, scale, dtype):
    x = (subspace(2900, 16, 6, seed=2).astype(np.float64) * scale).astype(dtype)
    expected = brute_force_lid(brute_force_distances(x, 40))
    np.testing.assert_allclose(pointwise_lid(x, 40, progress=False), expected, rtol=1e-9)


def test_every_row_comes_once_across_the_steps(small_steps):
    x = subspace(2000, 8, 4, seed=3)
    steps = list(selfjoin.join_steps(x, 5, progress=False))
    assert len(steps) == -(-len(x) // selfjoin.STEP_ROWS)
    rows = np.concatenate([r for r, _ in steps])
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(x)))
    joined = np.concatenate([d for _, d in steps])[np.argsort(rows)]
    np.testing.assert_allclose(joined, brute_force_distances(x, 5), rtol=1e-12)


def test_describe_in_steps_agrees_with_the_whole_distance_matrix(small_steps):
    """describe keeps LID and the two nearest distances per step; the same estimates come
    from the (n, k) distances that neighbour_distances returns."""
    x = subspace(2500, 12, 5, seed=4)
    lid, info = describe(x, 20, progress=False)
    whole = neighbour_distances(x, 20, progress=False)
    np.testing.assert_allclose(lid, brute_force_lid(whole), rtol=1e-12)
    assert info["twonn"] == pytest.approx(twonn_from_distances(whole[:, :2]), rel=1e-12)


def test_block_wise_moments_equal_one_covariance(small_steps):
    x = subspace(3500, 10, 4, seed=5) + np.float32(7.0)  # far from the origin: centring matters
    mean, eigenvalues, axes = pca.principal_moments(x)
    _, expected_values, expected_axes = pca.principal_axes(x)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(eigenvalues, expected_values, rtol=1e-9, atol=1e-9)
    leading = np.abs(np.sum(axes[:, :4] * expected_axes[:, :4], axis=0))  # up to sign
    np.testing.assert_allclose(leading, 1.0, rtol=1e-9)


PEAK_CODE = """
import sys
import numpy as np
from annbench.intrinsic.estimators import pointwise_lid

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(l.split()[1]) * 1024 for l in lines if l.startswith(field + ":"))

n, dim, k = (int(a) for a in sys.argv[1:4])
rng = np.random.default_rng(0)
pointwise_lid(rng.standard_normal((2000, dim), dtype=np.float32), k, progress=False)
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # peak RSS from here on
start = status("VmRSS")
lid = pointwise_lid(rng.standard_normal((n, dim), dtype=np.float32), k, progress=False)
assert np.isfinite(lid).all()
print(status("VmHWM") - start)
"""


@pytest.mark.slow
def test_pointwise_lid_holds_no_n_by_k_array():
    """Low-dimensional vectors, so the (n, k) float64 distances (160 MB) dwarf the base
    (3.2 MB): the peak above start-up must stay well below them."""
    n, dim, k = 200_000, 4, 100
    out = subprocess.run(
        [sys.executable, "-c", PEAK_CODE, str(n), str(dim), str(k)],
        check=True,
        capture_output=True,
        text=True,
    )
    peak = int(out.stdout.split()[-1])
    assert peak < n * k * 8 / 2, f"peak above start-up {peak / 1e6:.0f} MB"
