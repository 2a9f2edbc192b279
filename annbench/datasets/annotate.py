"""Adding derived data to a dataset file: per-vector (pointwise LID, global intrinsic
dimension) and per-query (difficulty measures)."""

from __future__ import annotations

import os

from annbench.datasets.groundtruth import mean_distances, normalized
from annbench.datasets.query_measures import attach_measures
from annbench.datasets.store import Dataset, dataset_info, load_dataset, load_query_measures
from annbench.datasets.update import update_dataset
from annbench.errors import UserError
from annbench.intrinsic.estimators import DEFAULT_LID_K, check_lid_k, describe


def lid_k_for(dataset: Dataset, k: int | None) -> int:
    """The neighbour count to use: ``k`` as given (refused unless 2 <= k < n), or, for None,
    DEFAULT_LID_K clipped to n - 1 so that small datasets still get an estimate."""
    n = len(dataset.base)
    if k is None:
        k = min(DEFAULT_LID_K, n - 1)
    check_lid_k(k)
    if k >= n:
        raise UserError(
            f"LID with k={k} needs more than {k} vectors; the dataset has {n}: use k < {n}"
        )
    return k


def annotate_intrinsic(
    dataset: Dataset, k: int | None = None, *, progress: bool | None = None
) -> Dataset:
    """Fill ``dataset.lid`` and ``dataset.intrinsic`` (k: see ``lid_k_for``).

    For the angular metric the estimates are taken on unit-normalised vectors, the geometry an
    angular index sees.
    """
    k = lid_k_for(dataset, k)
    base = normalized(dataset.base) if dataset.metric == "angular" else dataset.base
    dataset.lid, dataset.intrinsic = describe(base, k, progress=progress)
    return dataset


def ensure_intrinsic(
    path: str | os.PathLike,
    k: int | None = None,
    *,
    progress: bool | None = None,
    store: bool = True,
) -> Dataset:
    """The dataset at ``path`` with LID for this k, computed if missing and, with ``store``,
    written into the file."""
    dataset = load_dataset(path)
    k = lid_k_for(dataset, k)
    if dataset.lid is None or dataset.intrinsic.get("lid_k") != k:
        annotate_intrinsic(dataset, k, progress=progress)
        if store:
            update_dataset(path, lid=dataset.lid, intrinsic=dataset.intrinsic)
    return dataset


def ensure_query_measures(
    path: str | os.PathLike,
    *,
    force: bool = False,
    store: bool = True,
    progress: bool | None = None,
) -> Dataset:
    """The dataset at ``path`` with its per-query measures, computed where missing (or with
    ``force``) and, with ``store``, written into the file (from the file's blocks)."""
    stored, _ = load_query_measures(path)
    if stored and not force:
        return load_dataset(path)
    if dataset_info(path)["ground_truth_k"] == 0:
        raise UserError(f"{path} has no ground truth; compute it first")
    if store:
        update_dataset(path, measures=True, progress=progress)
        return load_dataset(path)
    dataset = load_dataset(path)
    means, record = mean_distances(dataset.base, dataset.queries, dataset.metric, progress=progress)
    attach_measures(dataset, means, record)
    return dataset
