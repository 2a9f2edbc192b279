"""What every workload does with an adapter's answers before they count: refuse the
malformed ones (the adapter is not trusted)."""

from __future__ import annotations

import numpy as np

from annbench.errors import AdapterError

# distances may fall back this much between neighbours and still count as ascending: ties
# and float rounding in a library's own arithmetic (a squared distance turned into a root)
ASCENDING_SLACK = 1e-5


def checked_output(ids, distances, n_queries: int, k: int, n_base: int):
    """Refuse answers that are malformed: wrong shape, ids out of range, repeated ids, and
    distances of real answers that are NaN, infinite or not ascending (the protocol's rule;
    padding with -1 ids may carry any distance)."""
    ids, distances = np.asarray(ids), np.asarray(distances)
    if ids.shape != (n_queries, k) or distances.shape != (n_queries, k):
        raise AdapterError(
            f"search returned ids {ids.shape} and distances {distances.shape}, "
            f"expected ({n_queries}, {k}) for both"
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise AdapterError(f"search returned ids of type {ids.dtype}, expected integers")
    ids = ids.astype(np.int64)
    if ids.min() < -1 or ids.max() >= n_base:
        raise AdapterError(f"search returned ids outside [-1, {n_base}): {ids.min()}..{ids.max()}")
    valid = np.where(ids >= 0, ids, -np.arange(1, k + 1) - 1)  # padding never counts as repeat
    repeated = (np.sort(valid, axis=1)[:, 1:] == np.sort(valid, axis=1)[:, :-1]).any(axis=1)
    if repeated.any():
        raise AdapterError(f"search returned a repeated id for query {int(np.argmax(repeated))}")
    if not np.issubdtype(distances.dtype, np.number) or np.iscomplexobj(distances):
        raise AdapterError(f"search returned distances of type {distances.dtype}, not numbers")
    real = ids >= 0
    finite = np.isfinite(distances) | ~real
    if not finite.all():
        row = int(np.argmin(finite.all(axis=1)))
        raise AdapterError(f"search returned a NaN or infinite distance for query {row}")
    _check_ascending(np.where(real, distances, np.inf).astype(np.float64), real)
    return ids, distances


def _check_ascending(distances: np.ndarray, real: np.ndarray) -> None:
    """Each row's real answers come first and their distances ascend, within a slack."""
    if (real[:, 1:] & ~real[:, :-1]).any():
        row = int(np.argmax((real[:, 1:] & ~real[:, :-1]).any(axis=1)))
        raise AdapterError(f"search returned a -1 id before a real answer for query {row}")
    with np.errstate(invalid="ignore"):  # inf - inf between two padded entries
        step = distances[:, 1:] - distances[:, :-1]
    slack = ASCENDING_SLACK * np.maximum(1.0, np.abs(distances[:, :-1]))
    falling = (step < -slack) & real[:, 1:]
    if falling.any():
        row, col = map(int, np.argwhere(falling)[0])
        raise AdapterError(
            f"search returned distances that do not ascend for query {row} "
            f"({distances[row, col]:g} then {distances[row, col + 1]:g}); "
            "return them nearest first (similarities negated)"
        )
