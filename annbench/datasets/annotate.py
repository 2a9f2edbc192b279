"""Adding derived per-vector data (pointwise LID, global intrinsic dimension) to a dataset."""

from __future__ import annotations

import os
from pathlib import Path

from annbench.datasets.groundtruth import normalized
from annbench.datasets.store import Dataset, load_dataset, write_dataset
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
            write_dataset(Path(path), dataset, overwrite=True)
    return dataset
