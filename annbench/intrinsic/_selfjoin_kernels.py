"""numba kernels of annbench.selfjoin, imported only when a self-join runs (numba compiles
them then, or loads them from its on-disk cache)."""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

UNSET = np.float32(1e30)  # a row's threshold until its heap first holds `keep` entries
SENTINEL = np.float32(-3e38)  # after a heap's last entry: children that never win
ARITY = 4  # children per heap entry
NO_LIMIT = np.float32(-1e30)  # the limit of a padding query row: no bound beats it
BYTE_BITS = np.uint64(0x0102040810204080)  # gathers bit 0 of eight bytes into one byte
SEED_TILES = 2  # nearest tiles whose upper bounds set the starting thresholds
UPPER_SLACK = np.float32(1.0001)  # far above float32 rounding of a full distance
TINY = np.float32(1e-30)  # lifts a zero upper bound above zero distances


@intrinsic
def _trailing_zeros(typingctx, value):
    """The index of the lowest set bit of a non-zero uint64 (one tzcnt)."""

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


@numba.njit(cache=True, inline="always")
def _sift_down(distances, ids, position, size, value, item):
    """Put (value, item) at ``position`` of a 4-ary max-heap of ``size`` entries and sift it
    down. Half the depth of a binary heap, and the four children load side by side;
    ``distances[size:size + ARITY]`` hold SENTINEL, so the largest child is chosen without
    a branch."""
    one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    position, size = np.uint64(position), np.uint64(size)  # unsigned: no wraparound checks
    first = four * position + one
    while first < size:
        a, b = distances[first], distances[first + one]
        c, d = distances[first + two], distances[first + three]
        left = first + np.uint64(b > a)
        right = first + two + np.uint64(d > c)
        high_left, high_right = max(a, b), max(c, d)
        child = right if high_right > high_left else left
        if max(high_left, high_right) <= value:
            break
        distances[position] = distances[child]
        ids[position] = ids[child]
        position = child
        first = four * position + one
    distances[position] = value
    ids[position] = item


@numba.njit(cache=True, inline="always", fastmath=True)
def _group_bounds(queries, g, tile, tile_norms, out, prefix, l0, l1, l2, l3):
    """out[s, j] = |x_j|^2 - 2 q.x_j over the prefix axes for the four queries g..g+3, and
    for each of them the sum of min(out[s, j] - limit_s, 0): zero iff no bound beats it.

    Four queries and four axes per pass over the tile's columns, so each column load
    serves sixteen multiply-adds; the sums ride along with the last pass."""
    columns = tile_norms.shape[0]
    a0, a1, a2, a3 = out[0], out[1], out[2], out[3]
    zero = np.float32(0.0)
    b0, b1, b2, b3 = zero, zero, zero, zero
    for d in range(0, prefix, 4):
        q00, q01, q02, q03 = queries[g, d], queries[g, d + 1], queries[g, d + 2], queries[g, d + 3]
        q10, q11, q12, q13 = (
            queries[g + 1, d],
            queries[g + 1, d + 1],
            queries[g + 1, d + 2],
            queries[g + 1, d + 3],
        )
        q20, q21, q22, q23 = (
            queries[g + 2, d],
            queries[g + 2, d + 1],
            queries[g + 2, d + 2],
            queries[g + 2, d + 3],
        )
        q30, q31, q32, q33 = (
            queries[g + 3, d],
            queries[g + 3, d + 1],
            queries[g + 3, d + 2],
            queries[g + 3, d + 3],
        )
        t0, t1, t2, t3 = tile[d], tile[d + 1], tile[d + 2], tile[d + 3]
        if d == 0 and prefix == 4:
            for j in range(columns):
                x0, x1, x2, x3, x = t0[j], t1[j], t2[j], t3[j], tile_norms[j]
                v0 = x + q00 * x0 + q01 * x1 + q02 * x2 + q03 * x3
                v1 = x + q10 * x0 + q11 * x1 + q12 * x2 + q13 * x3
                v2 = x + q20 * x0 + q21 * x1 + q22 * x2 + q23 * x3
                v3 = x + q30 * x0 + q31 * x1 + q32 * x2 + q33 * x3
                a0[j], a1[j], a2[j], a3[j] = v0, v1, v2, v3
                b0 += min(v0 - l0, zero)
                b1 += min(v1 - l1, zero)
                b2 += min(v2 - l2, zero)
                b3 += min(v3 - l3, zero)
        elif d == 0:
            for j in range(columns):
                x0, x1, x2, x3, x = t0[j], t1[j], t2[j], t3[j], tile_norms[j]
                a0[j] = x + q00 * x0 + q01 * x1 + q02 * x2 + q03 * x3
                a1[j] = x + q10 * x0 + q11 * x1 + q12 * x2 + q13 * x3
                a2[j] = x + q20 * x0 + q21 * x1 + q22 * x2 + q23 * x3
                a3[j] = x + q30 * x0 + q31 * x1 + q32 * x2 + q33 * x3
        elif d + 4 < prefix:
            for j in range(columns):
                x0, x1, x2, x3 = t0[j], t1[j], t2[j], t3[j]
                a0[j] += q00 * x0 + q01 * x1 + q02 * x2 + q03 * x3
                a1[j] += q10 * x0 + q11 * x1 + q12 * x2 + q13 * x3
                a2[j] += q20 * x0 + q21 * x1 + q22 * x2 + q23 * x3
                a3[j] += q30 * x0 + q31 * x1 + q32 * x2 + q33 * x3
        else:
            for j in range(columns):
                x0, x1, x2, x3 = t0[j], t1[j], t2[j], t3[j]
                v0 = a0[j] + q00 * x0 + q01 * x1 + q02 * x2 + q03 * x3
                v1 = a1[j] + q10 * x0 + q11 * x1 + q12 * x2 + q13 * x3
                v2 = a2[j] + q20 * x0 + q21 * x1 + q22 * x2 + q23 * x3
                v3 = a3[j] + q30 * x0 + q31 * x1 + q32 * x2 + q33 * x3
                a0[j], a1[j], a2[j], a3[j] = v0, v1, v2, v3
                b0 += min(v0 - l0, zero)
                b1 += min(v1 - l1, zero)
                b2 += min(v2 - l2, zero)
                b3 += min(v3 - l3, zero)
    return b0, b1, b2, b3


@numba.njit(cache=True, inline="always", fastmath=True)
def _squared_distance(points, i, other):
    """float32 squared distance between two rows, by differences (no cancellation)."""
    total = np.float32(0.0)
    for d in range(points.shape[1]):
        diff = points[i, d] - points[other, d]
        total += diff * diff
    return total


@numba.njit(cache=True, inline="always")
def _offer(distances, ids, count, r, keep, full, other, threshold):
    """Row r's heap of its best ``keep`` takes (full, other), known to beat its threshold:
    appended while it fills (made a heap once full), else in place of the worst."""
    c = count[r]
    if c < keep:
        distances[c] = full
        ids[c] = other
        count[r] = c + 1
        if c + 1 < keep:
            return
        for position in range((keep - 2) // ARITY, -1, -1):
            _sift_down(distances, ids, position, keep, distances[position], ids[position])
    else:
        _sift_down(distances, ids, 0, keep, full, other)
    threshold[r] = distances[0]


@numba.njit(cache=True, inline="always", fastmath=True)
def _fill(points, dots, flags, offset, i, r, count, keep, heap_d, heap_i, threshold, shift):
    """Row r's survivors of one tile while its heap fills: one by one, each full distance
    checked against the threshold as it falls."""
    distances, ids = heap_d[r], heap_i[r]
    for j in range(flags.shape[0]):
        if not flags[j] or offset + j == i or dots[j] >= threshold[r] + shift:
            continue
        other = offset + j
        full = _squared_distance(points, i, other)
        if full < threshold[r]:
            _offer(distances, ids, count, r, keep, full, other, threshold)


@numba.njit(cache=True, inline="always", fastmath=True)
def _upper_bounds(bounds, residuals, shift, residual, out):
    """Upper bounds on the float32 squared distances from one query to a tile's columns:
    the prefix bound plus |q|^2 and margins, plus the most the other axes can add."""
    for j in range(bounds.shape[0]):
        most = residual + residuals[j]
        out[j] = (bounds[j] + shift + most * most) * UPPER_SLACK


@numba.njit(cache=True, inline="always")
def _sortable(value):
    """An int32 that orders like the float32 ``value``."""
    bits = np.float32(value).view(np.int32)
    return bits ^ ((bits >> np.int32(31)) & np.int32(0x7FFFFFFF))


@numba.njit(cache=True)
def _kth_smallest(values, k, ranks):
    """The k-th smallest of ``values`` (float32), by bisection over their bit patterns:
    32 vectorised counting passes instead of a branchy selection."""
    for c in range(len(values)):
        ranks[c] = _sortable(values[c])
    low, high = np.int64(-2147483649), np.int64(2147483647)
    while high - low > 1:  # the smallest pattern with at least k values at or below it
        middle = np.int32((low + high) // 2)
        total = 0
        for c in range(len(values)):
            total += ranks[c] <= middle
        if total >= k:
            high = middle
        else:
            low = middle
    for c in range(len(values)):
        if ranks[c] == high:
            return values[c]
    return UNSET


@numba.njit(parallel=True, cache=True, fastmath=True)
def join(
    points, originals, leading, tiles, tile_norms, tile_residuals, tile_centres, margins, keep,
    k, query_block, start, stop,
):  # fmt: skip
    """float64 distances (stop - start, k), ascending, from each point in rows [start, stop)
    to its k nearest other points; -1 in a row that found fewer than ``keep`` candidates
    (a broken upper bound; the caller raises).

    ``points`` (float32) give the distances that choose each row's ``keep`` candidates;
    ``originals`` (the same rows, exactly as given) re-score them in float64 while the
    block's rows are still in cache, and the k smallest are kept.

    ``leading`` holds the prefix axes (zero-padded to a multiple of four) and ``tiles``
    -2 x over them, column by column, with |x|^2 in ``tile_norms``, so _group_bounds gives
    |x|^2 - 2 q.x: the squared lower bound less |q|^2. Each block of queries visits the
    tiles nearest its centre first, so that every row's threshold (the largest distance
    in its heap of the best ``keep`` so far) tightens early; a row skips a tile when no
    bound beats it, and otherwise walks the set bits of the survivors' flags.
    """
    prefix = leading.shape[1]
    tile_count, _, tile = tiles.shape
    blocks = (stop - start + query_block - 1) // query_block
    found = np.empty((stop - start, k), dtype=np.float64)
    dims = originals.shape[1]
    zero = np.float32(0.0)
    for block in numba.prange(blocks):
        first = start + block * query_block
        rows = min(stop, first + query_block) - first
        padded = (rows + 3) // 4 * 4
        queries = np.zeros((padded, prefix), dtype=np.float32)
        queries[:rows] = leading[first : first + rows]
        query_norms = np.empty(rows, dtype=np.float32)
        shifts = np.empty(rows, dtype=np.float32)  # a row's limit is its threshold + shift
        for r in range(rows):
            query_norms[r] = np.dot(queries[r], queries[r])
            shifts[r] = margins[first + r] - query_norms[r]
        bounds = np.empty((4, tile), dtype=np.float32)
        flags = np.zeros(tile, dtype=np.uint8)
        survivors = np.empty(tile, dtype=np.int64)
        fulls = np.empty(tile, dtype=np.float32)
        words = flags.view(np.uint64)
        heap_d = np.empty((rows, keep + ARITY), dtype=np.float32)
        heap_d[:, keep:] = SENTINEL
        heap_i = np.empty((rows, keep + ARITY), dtype=np.int64)
        count = np.zeros(rows, dtype=np.int64)
        threshold = np.full(rows, UNSET, dtype=np.float32)
        limits = np.full(padded, NO_LIMIT, dtype=np.float32)  # padding rows keep NO_LIMIT
        limits[:rows] = threshold + shifts
        centre = queries[:rows].sum(axis=0) / rows
        gaps = np.empty(tile_count, dtype=np.float32)
        for t in range(tile_count):
            gaps[t] = np.sum((tile_centres[t] - centre) ** 2)
        visit = np.argsort(gaps)
        seeds = min(SEED_TILES, tile_count)
        if seeds * tile > keep:  # start each threshold at an upper bound: fewer insertions
            width = seeds * tile
            pool = np.empty((padded, width), dtype=np.float32)
            ranks = np.empty(width, dtype=np.int32)
            for slot in range(seeds):
                t = visit[slot]
                for g in range(0, padded, 4):
                    _group_bounds(
                        queries, g, tiles[t], tile_norms[t], bounds, prefix,
                        NO_LIMIT, NO_LIMIT, NO_LIMIT, NO_LIMIT,
                    )  # fmt: skip
                    for s in range(min(4, rows - g)):
                        r = g + s
                        i = first + r
                        _upper_bounds(
                            bounds[s], tile_residuals[t], query_norms[r] + 2 * margins[i],
                            tile_residuals[i // tile, i % tile],
                            pool[r, slot * tile : (slot + 1) * tile],
                        )  # fmt: skip
                        if 0 <= i - t * tile < tile:
                            pool[r, slot * tile + i - t * tile] = UNSET
            for r in range(rows):
                # strictly above, so a candidate equal to the bound (all zero) still enters
                threshold[r] = _kth_smallest(pool[r], keep, ranks) + TINY
            limits[:rows] = threshold + shifts
        for t in visit:
            offset = t * tile
            for g in range(0, padded, 4):
                below = _group_bounds(
                    queries, g, tiles[t], tile_norms[t], bounds, prefix,
                    limits[g], limits[g + 1], limits[g + 2], limits[g + 3],
                )  # fmt: skip
                for s in range(min(4, rows - g)):
                    if below[s] == zero:
                        continue
                    r = g + s
                    i = first + r
                    dots = bounds[s]
                    limit = limits[r]
                    for j in range(tile):  # vectorises; flags a superset as the limit falls
                        flags[j] = dots[j] < limit
                    if count[r] < keep:  # filling up: the limit falls fast, go one by one
                        _fill(
                            points, dots, flags, offset, i, r, count, keep, heap_d, heap_i,
                            threshold, shifts[r],
                        )  # fmt: skip
                        limits[r] = threshold[r] + shifts[r]
                        continue
                    found_here = 0  # survivors first, so that their loads overlap
                    for word in range(tile // 8):
                        if words[word] == 0:
                            continue
                        bits = (words[word] * BYTE_BITS) >> np.uint64(56)
                        while bits:
                            j = 8 * word + np.int64(_trailing_zeros(bits))
                            bits &= bits - np.uint64(1)
                            survivors[found_here] = offset + j
                            found_here += 1
                    for a in range(found_here):
                        other = survivors[a]
                        fulls[a] = _squared_distance(points, i, other) if other != i else UNSET
                    distances, ids = heap_d[r], heap_i[r]
                    for a in range(found_here):
                        if fulls[a] < threshold[r]:
                            _offer(
                                distances, ids, count, r, keep, fulls[a], survivors[a], threshold
                            )
                    limits[r] = threshold[r] + shifts[r]
        nearest = np.empty(keep, dtype=np.int64)
        squared = np.empty(keep, dtype=np.float64)
        for r in range(rows):
            if count[r] < keep:  # cannot happen while the seeds are upper bounds
                found[first - start + r] = -1.0
                continue
            distances, ids = heap_d[r], heap_i[r]
            for end in range(keep - 1, -1, -1):  # heap-sort: ascending float32 distance
                nearest[end] = ids[0]
                value, item = distances[end], ids[end]
                distances[end] = SENTINEL
                if end:
                    _sift_down(distances, ids, 0, end, value, item)
            i = first + r
            for c in range(keep):
                other = nearest[c]
                total = 0.0
                for d in range(dims):
                    diff = np.float64(originals[i, d]) - np.float64(originals[other, d])
                    total += diff * diff
                squared[c] = total
            for c in range(1, keep):  # insertion sort: float32 order left few inversions
                value64 = squared[c]
                position = c
                while position and squared[position - 1] > value64:
                    squared[position] = squared[position - 1]
                    position -= 1
                squared[position] = value64
            for c in range(k):
                found[first - start + r, c] = np.sqrt(squared[c])
    return found
