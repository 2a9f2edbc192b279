"""numba kernels for exact float64 distances of chosen pairs (ground-truth re-scoring):
gather, subtract and sum in one pass per pair, no float64 copy of the gathered rows.
Compiled on first use and cached on disk."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always", fastmath=False)
def _query_norm(q):  # pragma: no cover - compiled
    qq = 0.0
    for d in range(len(q)):
        qq += np.float64(q[d]) * np.float64(q[d])
    return qq


@numba.njit(inline="always", fastmath=False)
def _pair_distance(x, q, qq, metric):  # pragma: no cover - compiled
    """One pair in float64: metric 0: L2, 1: negated inner product, 2: 1 - cosine."""
    acc = 0.0
    xx = 0.0
    for d in range(len(q)):
        xd = np.float64(x[d])
        qd = np.float64(q[d])
        if metric == 0:
            diff = xd - qd
            acc += diff * diff
        else:
            acc += xd * qd
            xx += xd * xd
    if metric == 0:
        return np.sqrt(acc)
    if metric == 1:
        return -acc
    norms = np.sqrt(xx) * np.sqrt(qq)
    return 1.0 - acc / norms if norms > 0 else 1.0


@numba.njit(parallel=True, cache=True, fastmath=False)
def pair_distances(base, queries, ids, metric):  # pragma: no cover - compiled
    """metric 0: L2, 1: negated inner product, 2: 1 - cosine; +inf where id < 0."""
    nq, k = ids.shape
    out = np.empty((nq, k), dtype=np.float64)
    for i in numba.prange(nq):
        q = queries[i]
        qq = _query_norm(q)
        for j in range(k):
            row = ids[i, j]
            out[i, j] = np.inf if row < 0 else _pair_distance(base[row], q, qq, metric)
    return out


@numba.njit(parallel=True, cache=True, fastmath=False)
def pair_distances_rows(block, start, queries, query_of, ids, metric, out):  # pragma: no cover
    """``pair_distances`` for pairs whose base row lies in ``block`` (rows ``start``..):
    out[p] = distance(queries[query_of[p]], block[ids[p] - start]), by the same per-pair
    function, so the values are identical."""
    for p in numba.prange(len(ids)):
        q = queries[query_of[p]]
        out[p] = _pair_distance(block[ids[p] - start], q, _query_norm(q), metric)
