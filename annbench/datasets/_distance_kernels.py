"""numba kernels for exact float64 distances of chosen pairs (ground-truth re-scoring):
gather, subtract and sum in one pass per pair, no float64 copy of the gathered rows.
Compiled on first use and cached on disk."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True, fastmath=False)
def pair_distances(base, queries, ids, metric):  # pragma: no cover - compiled
    """metric 0: L2, 1: negated inner product, 2: 1 - cosine; +inf where id < 0."""
    nq, k = ids.shape
    dim = base.shape[1]
    out = np.empty((nq, k), dtype=np.float64)
    for i in numba.prange(nq):
        q = queries[i]
        qq = 0.0
        for d in range(dim):
            qq += np.float64(q[d]) * np.float64(q[d])
        for j in range(k):
            row = ids[i, j]
            if row < 0:
                out[i, j] = np.inf
                continue
            x = base[row]
            acc = 0.0
            xx = 0.0
            for d in range(dim):
                xd = np.float64(x[d])
                qd = np.float64(q[d])
                if metric == 0:
                    diff = xd - qd
                    acc += diff * diff
                else:
                    acc += xd * qd
                    xx += xd * xd
            if metric == 0:
                out[i, j] = np.sqrt(acc)
            elif metric == 1:
                out[i, j] = -acc
            else:
                norms = np.sqrt(xx) * np.sqrt(qq)
                out[i, j] = 1.0 - acc / norms if norms > 0 else 1.0
    return out


@numba.njit(parallel=True, cache=True, fastmath=False)
def pair_distances_rows(block, start, queries, query_of, ids, metric, out):  # pragma: no cover
    """``pair_distances`` for pairs whose base row lies in ``block`` (rows ``start``..):
    out[p] = distance(queries[query_of[p]], block[ids[p] - start]), with the same per-pair
    float64 arithmetic (same loop order), so the values are identical."""
    dim = block.shape[1]
    for p in numba.prange(len(ids)):
        q = queries[query_of[p]]
        qq = 0.0
        for d in range(dim):
            qq += np.float64(q[d]) * np.float64(q[d])
        x = block[ids[p] - start]
        acc = 0.0
        xx = 0.0
        for d in range(dim):
            xd = np.float64(x[d])
            qd = np.float64(q[d])
            if metric == 0:
                diff = xd - qd
                acc += diff * diff
            else:
                acc += xd * qd
                xx += xd * xd
        if metric == 0:
            out[p] = np.sqrt(acc)
        elif metric == 1:
            out[p] = -acc
        else:
            norms = np.sqrt(xx) * np.sqrt(qq)
            out[p] = 1.0 - acc / norms if norms > 0 else 1.0
