"""How hard each query is, from its exact neighbour distances: pure functions of arrays.

For a query q with exact neighbour distances r_1 <= r_2 <= ... (to base vectors; the query is
not in the base) and mean distance to the base mu(q) = (1/n) sum_x dist(q, x):

- ``lid_k``: local intrinsic dimensionality by maximum likelihood (Levina-Bickel, the same
  estimator as the base's pointwise LID): LID_k = (m - 1) / sum_j log(r_max / r_j) over the
  m non-zero distances among the first k (r_max the largest of them). A base vector identical
  to the query (r_j = 0) carries no scale information and is left out; with fewer than two
  non-zero distances, or all of them equal, LID_k is undefined (NaN).
- ``rc_k``: relative contrast (He, Kumar and Chang 2012) RC_k = mu(q) / r_k. Large: the k-th
  neighbour stands out from the crowd (easy); near 1: every point is about as far (hard);
  +inf where r_k = 0.
- ``expansion_k``: r_2k / r_k, how fast the neighbourhood grows beyond the k-th neighbour
  (close to 1: many near-ties around the k-th neighbour, hard); +inf where r_k = 0 < r_2k.

Distances must be non-negative (euclidean, or angular's 1 - cos). The ip metric's negated
inner products are not distances: its measures are NaN.
"""

from __future__ import annotations

import numpy as np

LID_KS = (10, 100)
RC_KS = (1, 10, 100)
EXPANSION_KS = (10,)
# which way is harder: "high" means a larger value is a harder query
HARDER = {"lid": "high", "rc": "low", "expansion": "low"}
DEFAULT_MEASURE = {"lid": "lid_100", "rc": "rc_10", "expansion": "expansion_10"}


def query_lid(distances: np.ndarray, k: int) -> np.ndarray:
    """MLE LID of each query over its k nearest non-zero distances (see the module text)."""
    r = np.asarray(distances, dtype=np.float64)[:, :k]
    positive = r > 0
    m = positive.sum(axis=1)
    r_max = np.where(positive, r, -np.inf).max(axis=1, initial=-np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(positive, np.log(r_max[:, None] / np.where(positive, r, 1.0)), 0.0)
        total = logs.sum(axis=1)
        lid = (m - 1) / total
    return np.where((m >= 2) & (total > 0), lid, np.nan)


def relative_contrast(mean_distance: np.ndarray, distances: np.ndarray, k: int) -> np.ndarray:
    """RC_k = mean distance to the base / distance to the k-th neighbour."""
    r_k = np.asarray(distances, dtype=np.float64)[:, k - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r_k > 0, np.asarray(mean_distance, np.float64) / r_k, np.inf)


def expansion(distances: np.ndarray, k: int) -> np.ndarray:
    """r_2k / r_k (1 where both are zero)."""
    r = np.asarray(distances, dtype=np.float64)
    r_k, r_2k = r[:, k - 1], r[:, 2 * k - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r_k > 0, r_2k / r_k, np.where(r_2k > 0, np.inf, 1.0))


def query_measures(
    distances: np.ndarray, mean_distance: np.ndarray | None, metric: str
) -> dict[str, np.ndarray]:
    """Every measure the ground truth's depth allows (LID_k and RC_k need k neighbours,
    expansion_k needs 2k), as float64 arrays over the queries."""
    distances = np.asarray(distances, dtype=np.float64)
    n_queries, depth = distances.shape
    usable = metric != "ip"

    def value(array: np.ndarray) -> np.ndarray:
        return array if usable else np.full(n_queries, np.nan)

    measures: dict[str, np.ndarray] = {}
    for k in LID_KS:
        if depth >= k:
            measures[f"lid_{k}"] = value(query_lid(distances, k))
    if mean_distance is not None:
        measures["mean_distance"] = np.asarray(mean_distance, dtype=np.float64)
        for k in RC_KS:
            if depth >= k:
                measures[f"rc_{k}"] = value(relative_contrast(mean_distance, distances, k))
    for k in EXPANSION_KS:
        if depth >= 2 * k:
            measures[f"expansion_{k}"] = value(expansion(distances, k))
    return measures


def measure_name(by: str) -> str:
    """The stored measure a ``--by`` value means: lid, rc and expansion name their default k;
    a stored name (lid_10, rc_1, ...) stands for itself."""
    return DEFAULT_MEASURE.get(by, by)


def harder_is_high(measure: str) -> bool:
    """True where a larger value of ``measure`` means a harder query (LID, Mahalanobis)."""
    family = measure.split("_")[0]
    return HARDER.get(family, "high") == "high"


def difficulty(values: np.ndarray, measure: str) -> np.ndarray:
    """Values turned so that larger is harder (RC and expansion negated)."""
    values = np.asarray(values, dtype=np.float64)
    return values if harder_is_high(measure) else -values


def mahalanobis_fit(
    sample: np.ndarray, *, diagonal: bool = False, ridge: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and inverse covariance of ``sample`` (rows = vectors). A ridge of ``ridge`` times
    the mean variance is added to the diagonal, so data on a subspace (a singular covariance)
    still gives finite, comparable distances off it."""
    x = np.asarray(sample, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    if diagonal:
        variance = (centred**2).mean(axis=0)
        return mean, np.diag(1.0 / (variance + ridge * max(variance.mean(), 1e-300)))
    covariance = centred.T @ centred / max(len(x) - 1, 1)
    scale = max(float(np.trace(covariance)) / len(covariance), 1e-300)
    return mean, np.linalg.inv(covariance + ridge * scale * np.eye(len(covariance)))


def mahalanobis(points: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """sqrt((x - mean)^T P (x - mean)) for each row x."""
    centred = np.asarray(points, dtype=np.float64) - mean
    return np.sqrt(np.maximum(((centred @ precision) * centred).sum(axis=1), 0.0))


def summary(values: np.ndarray) -> dict[str, float]:
    """Mean and quantiles of the finite values (and how many were not finite)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {"mean": float("nan"), "non_finite": int(len(values))}
    q05, q25, q50, q75, q95 = np.percentile(finite, [5, 25, 50, 75, 95])
    return {
        "mean": float(finite.mean()),
        "q05": float(q05),
        "q25": float(q25),
        "median": float(q50),
        "q75": float(q75),
        "q95": float(q95),
        "non_finite": int(len(values) - len(finite)),
    }
