"""Exact ground truth at every search step of a runbook, over the points active at that step.

Successive search steps differ by a few inserts and deletes, so each query keeps a candidate
list (its ``DEPTH_FACTOR`` x k best active points, by faiss's float32 kernel) from one step to
the next, with the depth to which the list is known to be exact:

- a delete removes the deleted points from every list; what remains is still the exact head
  of the new active set (a removed point was never ahead of one that stays), one shorter;
- an insert scans only the inserted points for every query and merges their best into the
  list; the merged head is exact as far as both sources are (a source holding every one of
  its points is exact all the way);
- a query whose exact depth falls below k is scanned again over the whole active set.

The winners are re-scored in float64 and ordered by (distance, id), as the static ground
truth is, so a runbook that inserts everything and searches once has the dataset's own
ground truth. One caveat, shared with the static ground truth: where several points lie at
exactly the k-th distance, which of them make the cut follows the kernel's (and here the
arrival) order, not the smallest id; distances agree, and the tolerant recall counts any.
``brute_force_steps`` computes each step from scratch (for tests and the benchmark).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annbench.datasets.groundtruth import refine, scan
from annbench.datasets.vectors import geometry

DEPTH_FACTOR = 2
CACHE_FORMAT = 1


@dataclass
class _Lists:
    """One query set's candidate lists: ids (-1 padded) and faiss scores, the exact depth of
    each list, whether a list holds every active point, and the active set it describes."""

    ids: np.ndarray
    scores: np.ndarray
    exact: np.ndarray
    complete: np.ndarray
    active: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def _better_first(scores: np.ndarray, metric: str) -> np.ndarray:
    """Sort keys so that ascending means better (faiss: L2 smaller, inner product larger)."""
    return scores if metric == "euclidean" else -scores


def _worst(metric: str) -> float:
    return np.inf if metric == "euclidean" else -np.inf


def _top(base, rows: np.ndarray, queries, metric: str, depth: int):
    """The ``depth`` best of ``rows`` for each query: (scores, base ids), -1 padded."""
    n_queries = len(queries)
    scores = np.full((n_queries, depth), _worst(metric), dtype=np.float32)
    ids = np.full((n_queries, depth), -1, dtype=np.int64)
    if len(rows):
        found_scores, found = scan(base[rows], queries, metric, depth, progress=False)
        width = found.shape[1]
        valid = found >= 0
        ids[:, :width] = np.where(valid, rows[np.where(valid, found, 0)], -1)
        scores[:, :width] = np.where(valid, found_scores, _worst(metric))
        order = np.argsort(_better_first(scores, metric), axis=1, kind="stable")
        ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
    return scores, ids


def _merge(lists: _Lists, scores, ids, exact, complete, metric: str, depth: int) -> None:
    both_ids = np.concatenate([lists.ids, ids], axis=1)
    both_scores = np.concatenate([lists.scores, scores], axis=1)
    keys = np.where(both_ids >= 0, _better_first(both_scores, metric), np.inf)
    order = np.argsort(keys, axis=1, kind="stable")[:, :depth]
    held = (lists.ids >= 0).sum(axis=1) + (ids >= 0).sum(axis=1)
    lists.ids = np.take_along_axis(both_ids, order, 1)
    lists.scores = np.take_along_axis(both_scores, order, 1)
    reach = np.minimum(
        np.where(lists.complete, np.iinfo(np.int64).max, lists.exact),
        np.where(complete, np.iinfo(np.int64).max, exact),
    )
    lists.complete = lists.complete & complete & (held <= depth)
    lists.exact = np.where(lists.complete, held, np.minimum(reach, depth))


def _remove(lists: _Lists, removed: np.ndarray, metric: str) -> None:
    gone = (lists.ids >= 0) & removed[np.maximum(lists.ids, 0)]
    lists.exact = lists.exact - gone.sum(axis=1)
    keys = np.where(gone | (lists.ids < 0), np.inf, _better_first(lists.scores, metric))
    order = np.argsort(keys, axis=1, kind="stable")
    lists.ids = np.where(gone, -1, lists.ids)
    lists.ids = np.take_along_axis(lists.ids, order, 1)
    lists.scores = np.take_along_axis(lists.scores, order, 1)


def _advance(lists: _Lists, base, queries, metric: str, active: np.ndarray, k: int) -> None:
    """Bring the lists from their active set to ``active``."""
    depth = lists.ids.shape[1]
    if lists.active.shape != active.shape:  # the first step of this query set
        lists.active = np.zeros_like(active)
    removed, added = lists.active & ~active, active & ~lists.active
    if removed.any():
        _remove(lists, removed, metric)
    if added.any():
        rows = np.flatnonzero(added)
        scores, ids = _top(base, rows, queries, metric, depth)
        whole = len(rows) <= depth
        exact = np.full(len(queries), min(depth, len(rows)))
        _merge(lists, scores, ids, exact, np.full(len(queries), whole), metric, depth)
    stale = ~lists.complete & (lists.exact < min(k, int(active.sum())))
    if stale.any():
        rows = np.flatnonzero(active)
        scores, ids = _top(base, rows, queries[stale], metric, depth)
        lists.ids[stale], lists.scores[stale] = ids, scores
        lists.exact[stale] = min(depth, len(rows))
        lists.complete[stale] = len(rows) <= depth
    lists.active = active


def _each_step(base, query_sets, metric: str, steps, candidates):
    """Drive ``candidates(name, base seen, queries seen, active) -> ids`` over the search
    steps and re-score each step's ids in float64 (the vectors turned into the metric's
    geometry once)."""
    base_geometry = geometry(base, metric)
    seen = {name: geometry(queries, metric) for name, queries in query_sets.items()}
    return [
        refine(base, query_sets[name], candidates(name, base_geometry, seen[name], active), metric)
        for name, active in steps
    ]


def step_ground_truth(
    base: np.ndarray,
    query_sets: dict[str, np.ndarray],
    metric: str,
    steps: list[tuple[str, np.ndarray]],
    k: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact top-``k`` (ids int64, distances float32; -1 / inf where fewer are active) for
    each search step, given as (query set name, boolean mask of the active points)."""
    depth = DEPTH_FACTOR * k
    state: dict[str, _Lists] = {}

    def incremental(name, base_geometry, queries, active):
        if name not in state:
            n_queries = len(queries)
            state[name] = _Lists(
                ids=np.full((n_queries, depth), -1, dtype=np.int64),
                scores=np.full((n_queries, depth), _worst(metric), dtype=np.float32),
                exact=np.zeros(n_queries, dtype=np.int64),
                complete=np.ones(n_queries, dtype=bool),
            )
        _advance(state[name], base_geometry, queries, metric, active, k)
        return state[name].ids[:, :k]

    return _each_step(base, query_sets, metric, steps, incremental)


def brute_force_steps(
    base: np.ndarray,
    query_sets: dict[str, np.ndarray],
    metric: str,
    steps: list[tuple[str, np.ndarray]],
    k: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same, each step computed from scratch over its active set."""

    def scratch(name, base_geometry, queries, active):
        return _top(base_geometry, np.flatnonzero(active), queries, metric, k)[1]

    return _each_step(base, query_sets, metric, steps, scratch)


INGEST_PAIRS = 1 << 22  # candidate (query, point) pairs scored at once for ingest truth


def ingest_truth(
    base: np.ndarray,
    queries: np.ndarray,
    start_ids: np.ndarray,
    rows: np.ndarray,
    counts: np.ndarray,
    metric: str,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of each query while points are being ingested: over the points active
    when ingestion began (whose exact top-k are ``start_ids``) plus the first ``counts[i]`` of
    ``rows``, the ingested points whose insert had returned when query i's answer began.
    Ordered by (distance, id) like every ground truth; -1 / inf padded."""
    n_queries = len(queries)
    ids = np.full((n_queries, k), -1, dtype=np.int64)
    distances = np.full((n_queries, k), np.inf, dtype=np.float32)
    width = int(counts.max(initial=0))
    chunk = max(1, INGEST_PAIRS // (width + k))
    for lo in range(0, n_queries, chunk):
        hi = min(lo + chunk, n_queries)
        fresh = np.broadcast_to(rows[:width], (hi - lo, width)).copy()
        fresh[np.arange(width)[None, :] >= counts[lo:hi, None]] = -1
        candidates = np.concatenate([start_ids[lo:hi, :k], fresh], axis=1)
        found, found_distances = refine(base, queries[lo:hi], candidates, metric)
        ids[lo:hi], distances[lo:hi] = found[:, :k], found_distances[:, :k]
    return ids, distances


def runbook_content(dataset_path: str | os.PathLike, query_sets: list[str]) -> str:
    """What a runbook's ground truth depends on besides the runbook itself: the dataset's
    content hash and, for each named query set (a dataset file beside it), its content hash;
    a query set made again makes the truth, and the results measured against it, stale."""
    import hashlib

    from annbench.datasets.store import dataset_hash

    path = Path(dataset_path)
    parts = [dataset_hash(path)]
    for name in sorted(query_sets):
        parts.append(f"{name}={dataset_hash(path.with_name(f'{name}{path.suffix}'))}")
    if len(parts) == 1:
        return parts[0]  # the dataset alone: its own hash
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def truth_path(dataset_path: str | os.PathLike, runbook_hash: str, k: int) -> Path:
    """Where a runbook's per-step ground truth is cached: beside the dataset file."""
    dataset_path = Path(dataset_path)
    return dataset_path.with_name(f"{dataset_path.stem}.runbooks") / f"{runbook_hash}-k{k}.h5"


def write_step_truth(path: Path, truth, content_hash: str, runbook_hash: str) -> None:
    import h5py

    from annbench.errors.files import atomic_path, ensure_folder

    ensure_folder(path.parent)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(format=CACHE_FORMAT, content_hash=content_hash, runbook=runbook_hash)
        for number, (ids, distances) in enumerate(truth):
            f.create_dataset(f"step{number}/ids", data=ids)
            f.create_dataset(f"step{number}/distances", data=distances)


def read_step_truth(path: Path, content_hash: str, runbook_hash: str):
    """The cached per-step truth, or None where it is absent or made for other content."""
    import h5py

    if not path.exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            if (
                f.attrs.get("format") != CACHE_FORMAT
                or f.attrs.get("content_hash") != content_hash
                or f.attrs.get("runbook") != runbook_hash
            ):
                return None
            count = len([name for name in f if name.startswith("step")])
            return [(f[f"step{i}/ids"][:], f[f"step{i}/distances"][:]) for i in range(count)]
    except OSError:
        return None
