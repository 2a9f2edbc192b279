"""Per-query difficulty measures in the dataset file (group ``query_measures``).

Arrays, one value per query, readable with plain h5py (``f["query_measures/lid_100"][:]``):
``lid_10``, ``lid_100``, ``rc_1``, ``rc_10``, ``rc_100``, ``expansion_10``, ``mean_distance``
(see ``annbench.intrinsic.difficulty`` for the formulas), and ``mahalanobis`` /
``mahalanobis_diag``: each query's Mahalanobis distance to the base distribution (full or
diagonal covariance of a seeded sample of at most ``COVARIANCE_SAMPLE`` base vectors, with a
small ridge). The group's ``info`` attribute (JSON) records how the mean distance was taken
(all base vectors or a stated sample), the covariance sample and a summary (mean, quantiles)
of every measure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annbench.datasets.store import Dataset
from annbench.datasets.vectors import geometry
from annbench.errors import UserError
from annbench.intrinsic.difficulty import mahalanobis, mahalanobis_fit, query_measures, summary

COVARIANCE_SAMPLE = 100_000
COVARIANCE_SEED = 0


def base_sample(base: np.ndarray, metric: str) -> tuple[np.ndarray, dict[str, Any]]:
    """A seeded sample of at most ``COVARIANCE_SAMPLE`` base vectors, and its record."""
    n = len(base)
    if n <= COVARIANCE_SAMPLE:
        return geometry(base, metric), {"rows": n}
    rows = np.sort(
        np.random.default_rng(COVARIANCE_SEED).choice(n, COVARIANCE_SAMPLE, replace=False)
    )
    return geometry(base[rows], metric), {"rows": COVARIANCE_SAMPLE, "of": n, "seed": 0}


def shift_measures(base: np.ndarray, queries: np.ndarray, metric: str) -> tuple[dict, dict]:
    """Mahalanobis distance of each query to the base distribution (full and diagonal)."""
    sample, record = base_sample(base, metric)
    points = geometry(queries, metric)
    values = {}
    for name, diagonal in (("mahalanobis", False), ("mahalanobis_diag", True)):
        mean, precision = mahalanobis_fit(sample, diagonal=diagonal)
        values[name] = mahalanobis(points, mean, precision)
    return values, {"covariance_sample": record}


def attach_measures(dataset: Dataset, means: np.ndarray | None, record: dict) -> Dataset:
    """Fill ``dataset.query_measures`` from its ground truth and the queries' mean distances."""
    if dataset.distances is None:
        raise UserError("per-query measures need the dataset's ground truth first")
    measures = query_measures(dataset.distances, means, dataset.metric)
    shift, shift_record = shift_measures(dataset.base, dataset.queries, dataset.metric)
    measures.update(shift)
    dataset.query_measures = measures
    dataset.query_measures_info = {
        **record,
        **shift_record,
        "ground_truth_k": dataset.ground_truth_k,
        "metric": dataset.metric,
        "summary": {name: summary(values) for name, values in measures.items()},
    }
    return dataset
