"""Insertion orders: each strategy is a seeded permutation of base ids.

The harness hands the adapter ``base[order]`` with ``ids = order``, so the adapter answers with
original ids and ground truth never needs remapping.

- ``original``: as stored; ``reverse``: last first; ``random``: a seeded shuffle;
- ``lid-asc`` / ``lid-desc``: by pointwise LID (ties by id), needs the dataset's ``lid``;
- ``label-grouped``: all vectors of one label, then the next (label order seeded, stored order
  within a label); ``label-interleaved``: round robin across labels (label order seeded).
"""

from __future__ import annotations

import numpy as np

from annbench.errors import UserError

ORDERS = (
    "original",
    "random",
    "reverse",
    "lid-asc",
    "lid-desc",
    "label-grouped",
    "label-interleaved",
)
NEEDS_LABELS = {"label-grouped", "label-interleaved"}
NEEDS_LID = {"lid-asc", "lid-desc"}


def check_order(name: str) -> None:
    if name not in ORDERS:
        raise UserError(f"unknown insertion order {name!r}; choose from: {', '.join(ORDERS)}")


def insertion_order(
    name: str,
    n: int,
    seed: int = 0,
    *,
    labels: np.ndarray | None = None,
    lid: np.ndarray | None = None,
) -> np.ndarray:
    """The order (a permutation of range(n)) in which base vectors are handed to the adapter."""
    check_order(name)
    if name in NEEDS_LABELS and labels is None:
        raise UserError(f"insertion order {name!r} needs labels, and this dataset has none")
    if name in NEEDS_LID and lid is None:
        raise UserError(f"insertion order {name!r} needs the dataset's pointwise LID")
    rng = np.random.default_rng(seed)
    if name == "original":
        return np.arange(n, dtype=np.int64)
    if name == "reverse":
        return np.arange(n - 1, -1, -1, dtype=np.int64)
    if name == "random":
        return rng.permutation(n).astype(np.int64)
    if name == "lid-asc":
        return np.argsort(np.nan_to_num(lid, nan=np.inf), kind="stable").astype(np.int64)
    if name == "lid-desc":
        return np.argsort(-np.nan_to_num(lid, nan=-np.inf), kind="stable").astype(np.int64)
    groups = _groups_in_seeded_order(np.asarray(labels), rng)
    if name == "label-grouped":
        return np.concatenate(groups).astype(np.int64)
    return _round_robin(groups)


def _groups_in_seeded_order(labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    values = np.unique(labels)
    return [np.flatnonzero(labels == value) for value in rng.permutation(values)]


def _round_robin(groups: list[np.ndarray]) -> np.ndarray:
    """First member of every group, then every second member, and so on."""
    rank = np.concatenate([np.arange(len(group)) for group in groups])
    group_index = np.concatenate([np.full(len(group), i) for i, group in enumerate(groups)])
    members = np.concatenate(groups)
    return members[np.lexsort((group_index, rank))].astype(np.int64)
