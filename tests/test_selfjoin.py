"""The exact self-join behind pointwise LID equals a float64 brute force on every shape that
exercises a different path: one tile or many, a partial last tile, low-rank data (a prefix
shorter than the dimension), exact duplicates, huge coordinates, one thread or several."""

from __future__ import annotations

import numpy as np
import pytest

from annbench.intrinsic.selfjoin import TILE, self_join


def brute_force(x: np.ndarray, k: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(squared, np.inf)
    return np.sqrt(np.sort(squared, axis=1)[:, :k])


def low_rank(n: int, dim: int, rank: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, rank)))
    x = rng.standard_normal((n, rank)) @ basis.T + rng.normal(0, noise, (n, dim))
    return x.astype(np.float32)


@pytest.mark.parametrize(
    "n,dim,k",
    [
        (60, 5, 1),  # less than one tile
        (60, 5, 59),  # k = n - 1: every other vector
        (3 * TILE + 37, 6, 10),  # several tiles, the last one partial
        (2 * TILE, 24, 30),  # tiles and query blocks aligned
        (3 * TILE + 5, 3, 40),  # three axes: one pass of four, the last one padding
    ],
)
def test_equals_brute_force_on_gaussian_data(n, dim, k):
    x = np.random.default_rng(n + dim + k).standard_normal((n, dim)).astype(np.float32)
    np.testing.assert_allclose(self_join(x, k, progress=False), brute_force(x, k), rtol=1e-12)


def test_equals_brute_force_when_the_prefix_is_shorter_than_the_dimension():
    """Low-rank data plus a little noise: the GEMM bound uses only the leading axes, and
    pruning on it must not lose a neighbour that the residual axes bring closer."""
    x = low_rank(1400, 40, 5, 0.02, seed=3)
    np.testing.assert_allclose(self_join(x, 25, progress=False), brute_force(x, 25), rtol=1e-12)


def test_seeded_thresholds_hold_when_the_residual_axes_matter():
    """Thresholds start at upper bounds taken from the two nearest tiles: the prefix bound
    plus the most the residual axes can add. Noise in the residual axes comparable to the
    neighbour distances must not make one fall below the true k-th distance."""
    x = low_rank(5 * TILE, 30, 3, 0.01, seed=8)  # prefix: 3 axes; residual: 27
    np.testing.assert_allclose(self_join(x, 60, progress=False), brute_force(x, 60), rtol=1e-12)


def test_exact_duplicates_give_zero_distances_like_brute_force():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((700, 8)).astype(np.float32)
    x[350:] = x[:350]  # every vector has a twin
    result = self_join(x, 6, progress=False)
    np.testing.assert_allclose(result, brute_force(x, 6), rtol=1e-12, atol=0)
    assert (result[:, 0] == 0).all()


@pytest.mark.parametrize("copies", [5, 3 * TILE])
def test_identical_vectors_at_the_centre(copies):
    """Zero norms give zero margins and zero upper bounds: seeded thresholds must still let
    the zero distances in (a set of identical vectors once raised here)."""
    x = np.zeros((3 * TILE, 4), dtype=np.float32)
    x[:copies] += 1.0
    np.testing.assert_allclose(self_join(x, 7, progress=False), brute_force(x, 7), rtol=1e-12)


def test_huge_coordinates_stay_exact():
    """Squared norms near float32's range would meet the kernel's sentinel thresholds; the
    join scales them by a power of two and re-scores on the original values."""
    x = np.random.default_rng(5).standard_normal((800, 6)) * 1e17
    np.testing.assert_allclose(self_join(x, 9, progress=False), brute_force(x, 9), rtol=1e-12)


def test_one_thread_and_all_threads_agree():
    x = low_rank(2 * TILE + 11, 16, 8, 0.05, seed=6)
    one = self_join(x, 12, threads=1, progress=False)
    np.testing.assert_array_equal(one, self_join(x, 12, progress=False))


@pytest.mark.parametrize("k", [0, 50])
def test_k_outside_one_to_n_minus_one_is_refused(k):
    with pytest.raises(ValueError, match="1 <= k < n"):
        self_join(np.zeros((50, 3), dtype=np.float32), k)


def test_non_finite_values_are_refused():
    x = np.ones((20, 3))
    x[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        self_join(x, 3)
