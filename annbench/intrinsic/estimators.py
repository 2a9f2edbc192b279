"""Intrinsic dimensionality: pointwise LID and global estimates. Pure functions of arrays.

- ``pointwise_lid``: Levina-Bickel maximum likelihood over each vector's k nearest neighbours,
  LID(x) = (k - 1) / sum_j log(r_k / r_j), with r_1 <= ... <= r_k the distances from x to its
  k nearest other base vectors (the convention scikit-dimension's MLE uses). Neighbours are
  found exactly by ``annbench.intrinsic.selfjoin`` and their distances computed in float64.
- ``pca_dimension`` (in ``pca``): principal components that explain 99% of the variance.
- ``twonn_dimension``: TwoNN (Facco et al. 2017): a line through the origin fitted to
  -log(1 - F(mu)) against log(mu), mu = r_2 / r_1, leaving out the largest 10% of mu.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annbench.errors import UserError
from annbench.intrinsic.pca import pca_dimension

DEFAULT_LID_K = 100
TWONN_DISCARD = 0.1


def neighbour_distances(base: np.ndarray, k: int, *, progress: bool | None = None) -> np.ndarray:
    """float64 distances from every base vector to its k nearest *other* base vectors, ascending."""
    from annbench.intrinsic.selfjoin import self_join

    n = len(base)
    if not 1 <= k < n:
        raise UserError(f"need 1 <= k < n for neighbour statistics; got k={k} with n={n} vectors")
    return self_join(base, k, progress=progress)


def check_lid_k(k: int) -> None:
    if k < 2:
        raise UserError(f"the MLE LID needs k >= 2 neighbours, got k={k}")


def lid_from_distances(distances: np.ndarray) -> np.ndarray:
    """Pointwise MLE from sorted neighbour distances (n, k).

    Exact duplicates give degenerate values: 0 when a copy is among the neighbours, NaN when
    all k neighbours are copies, +inf when all k neighbours coincide with one another.
    """
    k = distances.shape[1]
    check_lid_k(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = distances[:, -1:] / distances
        return (k - 1) / np.log(ratios, out=ratios).sum(axis=1)  # in place: one (n, k) temporary


def pointwise_lid(
    base: np.ndarray, k: int = DEFAULT_LID_K, *, progress: bool | None = None
) -> np.ndarray:
    """Local intrinsic dimensionality of every base vector (MLE over k neighbours), computed
    step by step of the self-join: no (n, k) array is held."""
    check_lid_k(k)
    return _lid_and_nearest(base, k, progress, nearest=False)[0]


def _lid_and_nearest(
    base: np.ndarray, k: int, progress: bool | None, *, nearest: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise LID over k >= 2 neighbours and, if asked, the two nearest distances (n, 2)
    (else (n, 0)), from one self-join, step by step."""
    from annbench.intrinsic.selfjoin import join_steps

    n = len(base)
    if not 1 <= k < n:
        raise UserError(f"need 1 <= k < n for neighbour statistics; got k={k} with n={n} vectors")
    lid = np.empty(n)
    two = np.empty((n, 2 if nearest else 0))
    for rows, distances in join_steps(base, k, progress=progress):
        lid[rows] = lid_from_distances(distances)
        two[rows] = distances[:, : two.shape[1]]
    return lid, two


def twonn_from_distances(distances: np.ndarray, discard: float = TWONN_DISCARD) -> float:
    """TwoNN from sorted neighbour distances (at least two columns)."""
    r1, r2 = distances[:, 0], distances[:, 1]
    valid = r1 > 0
    mu = np.sort(r2[valid] / r1[valid])
    n = len(mu)
    keep = int(np.floor(n * (1 - discard)))
    x = np.log(mu[:keep])
    y = -np.log(1 - np.arange(1, keep + 1) / n)
    return float((x @ y) / (x @ x))


def twonn_dimension(base: np.ndarray, *, progress: bool | None = None) -> float:
    return twonn_from_distances(neighbour_distances(base, 2, progress=progress))


def describe(
    base: np.ndarray, k: int = DEFAULT_LID_K, *, progress: bool | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Pointwise LID and the global estimates, from one neighbour search."""
    check_lid_k(k)
    lid, nearest = _lid_and_nearest(base, k, progress, nearest=True)
    finite = lid[np.isfinite(lid)]
    return lid, {
        "lid_k": k,
        "pca99": pca_dimension(base),
        "twonn": twonn_from_distances(nearest),
        "mle_mean": float(finite.mean()) if len(finite) else float("nan"),
        "mle_median": float(np.median(finite)) if len(finite) else float("nan"),
    }
