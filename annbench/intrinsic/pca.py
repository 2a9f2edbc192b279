"""Principal axes of a point set: the PCA that ``pca_dimension`` reports and that the exact
self-join rotates onto (its lower bounds use the leading axes)."""

from __future__ import annotations

import numpy as np

PCA_VARIANCE = 0.99
BLOCK_ROWS = 65_536  # rows per float64 block: the moments never copy the whole base


def principal_axes(base: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The centred float64 data, its covariance eigenvalues (largest first, never negative)
    and the matching unit axes as columns."""
    centred = np.asarray(base, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    eigenvalues, axes = np.linalg.eigh(centred.T @ centred)
    return centred, np.clip(eigenvalues[::-1], 0, None), axes[:, ::-1]


def principal_moments(base: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean, the covariance eigenvalues (largest first, never negative) and the matching
    unit axes as columns, summed block by block in float64 (memory: a block, not the base)."""
    n, dim = base.shape
    total = np.zeros(dim)
    for start in range(0, n, BLOCK_ROWS):
        total += base[start : start + BLOCK_ROWS].sum(axis=0, dtype=np.float64)
    mean = total / n
    scatter = np.zeros((dim, dim))
    for start in range(0, n, BLOCK_ROWS):
        centred = np.asarray(base[start : start + BLOCK_ROWS], dtype=np.float64) - mean
        scatter += centred.T @ centred
    eigenvalues, axes = np.linalg.eigh(scatter)
    return mean, np.clip(eigenvalues[::-1], 0, None), axes[:, ::-1]


def components_for(eigenvalues: np.ndarray, variance: float) -> int:
    """How many leading components (eigenvalues largest first) explain ``variance`` of the
    total; all of them when the total is zero."""
    total = eigenvalues.sum()
    if total == 0:
        return len(eigenvalues)
    explained = np.cumsum(eigenvalues) / total
    return min(len(eigenvalues), int(np.searchsorted(explained, variance - 1e-12) + 1))


def pca_dimension(base: np.ndarray, variance: float = PCA_VARIANCE) -> int:
    """Principal components needed to explain ``variance`` of the total variance."""
    return components_for(principal_moments(base)[1], variance)
