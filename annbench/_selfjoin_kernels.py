"""numba kernels of annbench.selfjoin, imported only when a self-join runs (numba compiles
them then, or loads them from its on-disk cache)."""

from __future__ import annotations

import numba
import numpy as np

UNSET = np.float32(1e30)  # a row's threshold until its heap first holds `keep` entries


@numba.njit(cache=True, inline="always")
def _sift_down(distances, ids, row, position, size):
    """Restore the max-heap order below ``position`` in row ``row``'s first ``size`` entries.
    Unsigned indices spare numba's negative-index handling in this hot loop."""
    one, two = np.uint64(1), np.uint64(2)
    row, position, size = np.uint64(row), np.uint64(position), np.uint64(size)
    value, item = distances[row, position], ids[row, position]
    while True:
        child = two * position + one
        if child >= size:
            break
        right = child + one
        if right < size and distances[row, right] > distances[row, child]:
            child = right
        if distances[row, child] <= value:
            break
        distances[row, position] = distances[row, child]
        ids[row, position] = ids[row, child]
        position = child
    distances[row, position] = value
    ids[row, position] = item


@numba.njit(parallel=True, cache=True, fastmath=True)
def join(points, prefix, tiles, tile_centres, margins, keep, query_block, start, stop):
    """Row numbers (stop - start, keep) of the ``keep`` nearest other points of each point
    in rows [start, stop), unordered.

    ``tiles`` holds -2 x over the prefix axes and then |x|^2, column by column, so one GEMM
    of the queries' prefix extended by a 1 gives |x|^2 - 2 q.x, the squared lower bound less
    |q|^2. Each block of queries visits the tiles nearest its centre first, so that every
    row's threshold (the largest distance in its heap of the best ``keep`` so far) tightens
    early; a row skips a tile after one vectorised pass when no bound beats it.
    """
    n, dims = points.shape
    tile_count, _, tile = tiles.shape
    blocks = (stop - start + query_block - 1) // query_block
    found = np.empty((stop - start, keep), dtype=np.int64)
    zero = np.float32(0.0)
    for block in numba.prange(blocks):
        first = start + block * query_block
        rows = min(stop, first + query_block) - first
        queries = np.ones((rows, prefix + 1), dtype=np.float32)
        queries[:, :prefix] = points[first : first + rows, :prefix]
        query_norms = np.empty(rows, dtype=np.float32)
        for r in range(rows):
            query_norms[r] = np.dot(queries[r, :prefix], queries[r, :prefix])
        dots = np.empty((rows, tile), dtype=np.float32)
        flags = np.zeros(tile, dtype=np.uint8)
        words = flags.view(np.uint64)
        heap_d = np.empty((rows, keep), dtype=np.float32)
        heap_i = np.empty((rows, keep), dtype=np.int64)
        count = np.zeros(rows, dtype=np.int64)
        threshold = np.full(rows, UNSET, dtype=np.float32)
        centre = queries[:, :prefix].sum(axis=0) / rows
        gaps = np.empty(tile_count, dtype=np.float32)
        for t in range(tile_count):
            gaps[t] = np.sum((tile_centres[t] - centre) ** 2)
        for t in np.argsort(gaps):
            np.dot(queries, tiles[t], dots)
            offset = t * tile
            for r in range(rows):
                i = first + r
                limit = threshold[r] + margins[i] - query_norms[r]
                below = zero
                for j in range(tile):  # vectorises: negative iff some bound beats the limit
                    below += min(dots[r, j] - limit, zero)
                if below == zero:
                    continue
                for j in range(tile):  # vectorises; the limit only falls, so flags stay a superset
                    flags[j] = dots[r, j] < limit
                for word in range(tile // 8):  # eight flags at a time
                    if words[word] == 0:
                        continue
                    for j in range(8 * word, 8 * word + 8):
                        other = offset + j
                        if dots[r, j] >= limit or other == i or other >= n:
                            continue
                        full = zero
                        for d in range(dims):
                            diff = points[i, d] - points[other, d]
                            full += diff * diff
                        if full >= threshold[r]:
                            continue
                        c = count[r]
                        if c < keep:  # filling up: append, and make it a heap once full
                            heap_d[r, c] = full
                            heap_i[r, c] = other
                            count[r] = c + 1
                            if c + 1 == keep:
                                for position in range(keep // 2 - 1, -1, -1):
                                    _sift_down(heap_d, heap_i, r, position, keep)
                                threshold[r] = heap_d[r, 0]
                        else:  # the new candidate replaces the worst of the best keep
                            heap_d[r, 0] = full
                            heap_i[r, 0] = other
                            _sift_down(heap_d, heap_i, r, 0, keep)
                            threshold[r] = heap_d[r, 0]
                        limit = threshold[r] + margins[i] - query_norms[r]
        found[first - start : first - start + rows] = heap_i
    return found


@numba.njit(parallel=True, cache=True)
def rescore(points, order, candidates, k):
    """float64 distances (n, k), ascending, from each point to its k nearest candidates.

    ``points`` and ``candidates`` are in the locality order (a row's candidates lie near it
    in memory); ``order[i]`` is row i's original row, which the answer is indexed by.
    """
    n, width = candidates.shape
    dims = points.shape[1]
    squared = np.empty((n, width), dtype=np.float64)
    out = np.empty((n, k), dtype=np.float64)
    for i in numba.prange(n):
        for c in range(width):
            other = candidates[i, c]
            total = 0.0
            for d in range(dims):
                diff = points[i, d] - points[other, d]
                total += diff * diff
            squared[i, c] = total
        squared[i].sort()
        row = order[i]
        for c in range(k):
            out[row, c] = np.sqrt(squared[i, c])
    return out
