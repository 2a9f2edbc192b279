"""Adding derived per-vector data (pointwise LID, global intrinsic dimension) to a dataset."""

from __future__ import annotations

import os
from pathlib import Path

from annbench.datasets.store import Dataset, load_dataset, write_dataset
from annbench.groundtruth import normalized
from annbench.intrinsic import DEFAULT_LID_K, check_lid_k, describe


def annotate_intrinsic(
    dataset: Dataset, k: int = DEFAULT_LID_K, *, progress: bool | None = None
) -> Dataset:
    """Fill ``dataset.lid`` and ``dataset.intrinsic`` (k clipped to n - 1).

    For the angular metric the estimates are taken on unit-normalised vectors, the geometry an
    angular index sees.
    """
    check_lid_k(k)
    base = normalized(dataset.base) if dataset.metric == "angular" else dataset.base
    dataset.lid, dataset.intrinsic = describe(base, min(k, len(base) - 1), progress=progress)
    return dataset


def ensure_intrinsic(
    path: str | os.PathLike, k: int = DEFAULT_LID_K, *, progress: bool | None = None
) -> Dataset:
    """The dataset at ``path`` with LID for this k, computed and stored in the file if missing."""
    check_lid_k(k)
    dataset = load_dataset(path)
    wanted_k = min(k, len(dataset.base) - 1)
    if dataset.lid is None or dataset.intrinsic.get("lid_k") != wanted_k:
        annotate_intrinsic(dataset, k, progress=progress)
        write_dataset(Path(path), dataset, overwrite=True)
    return dataset
