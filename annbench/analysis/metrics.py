"""Quality and speed measures: pure functions of arrays.

Rules for the edge cases:
- ids of -1 (an index that found fewer than k) never count as hits;
- a repeated id counts once, so an adapter cannot inflate recall by repeating a good answer;
- distance-tolerant recall counts a returned neighbour when its true distance is at most the
  k-th true distance plus ``epsilon`` (1e-3 as in ann-benchmarks), so that among equally
  distant neighbours any choice is right.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-3
CHUNK_QUERIES = 1024


def _first_occurrence(ids: np.ndarray) -> np.ndarray:
    """Mask of entries that are valid (>= 0) and not a repeat of an earlier entry in their row."""
    order = np.argsort(ids, axis=1, kind="stable")
    sorted_ids = np.take_along_axis(ids, order, axis=1)
    repeat_sorted = np.zeros_like(sorted_ids, dtype=bool)
    repeat_sorted[:, 1:] = sorted_ids[:, 1:] == sorted_ids[:, :-1]
    repeat = np.empty_like(repeat_sorted)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return (ids >= 0) & ~repeat


def recall_at_k(found_ids: np.ndarray, true_ids: np.ndarray, k: int) -> np.ndarray:
    """Per-query share of the true k nearest ids among the first k returned ids. Where fewer
    than k exist (a filter passes fewer; the truth is padded with -1) the share is of those
    that exist; a query with none has recall 1."""
    found = np.asarray(found_ids)[:, :k]
    truth = np.asarray(true_ids)[:, :k]
    if truth.shape[1] < k:
        raise ValueError(f"ground truth holds {truth.shape[1]} neighbours, fewer than k={k}")
    valid = _first_occurrence(found)
    hits = np.empty(len(found), dtype=np.int64)
    for start in range(0, len(found), CHUNK_QUERIES):
        rows = slice(start, start + CHUNK_QUERIES)
        matches = (found[rows, :, None] == truth[rows, None, :]).any(axis=2)
        hits[rows] = (matches & valid[rows]).sum(axis=1)
    exist = (truth >= 0).sum(axis=1)
    return np.where(exist > 0, hits / np.maximum(exist, 1), 1.0)


def tolerant_recall_at_k(
    found_distances: np.ndarray,
    true_distances: np.ndarray,
    k: int,
    found_ids: np.ndarray | None = None,
    epsilon: float = TOLERANCE,
) -> np.ndarray:
    """Per-query share of returned neighbours within the k-th true distance plus ``epsilon``.

    ``found_distances`` must be true distances of the returned ids (not an adapter's claims);
    pass ``found_ids`` so that -1 padding and repeats are not counted.
    """
    found = np.asarray(found_distances, dtype=np.float64)[:, :k]
    if np.asarray(true_distances).shape[1] < k:
        raise ValueError(f"ground truth holds fewer than k={k} distances per query")
    truth = np.asarray(true_distances, dtype=np.float64)[:, :k]
    exist = np.isfinite(truth).sum(axis=1)  # padding (fewer than k exist) is inf
    last = truth[np.arange(len(truth)), np.maximum(exist - 1, 0)][:, None]
    within = found <= last + epsilon
    if found_ids is not None:
        within &= _first_occurrence(np.asarray(found_ids)[:, :k])
    return np.where(exist > 0, np.minimum(within.sum(axis=1), exist) / np.maximum(exist, 1), 1.0)


def queries_per_second(n_queries: int, seconds: float) -> float:
    return n_queries / seconds if seconds > 0 else float("inf")


CV_THRESHOLD = 0.10
# a 95% interval is given only where this many passes stand behind it; with fewer, the
# Student-t factor (12.7 at two passes, 4.3 at three) makes the interval meaningless
MIN_PASSES_FOR_INTERVAL = 5
# an interval whose upper QPS bound exceeds the median this many times says nothing
MAX_INTERVAL_RATIO = 10.0
LATENCY_PERCENTILES = {"p50": 50, "p95": 95, "p99": 99, "p999": 99.9}


def timing_summary(times_ns, n_queries: int, level: float = 0.95) -> dict[str, float | bool]:
    """QPS figures from the measured passes (one total time per repeat, in ns).

    qps: from the median pass; qps_min / qps_max: slowest / fastest pass; qps_iqr: interquartile
    range of per-pass QPS; qps_ci_low / qps_ci_high: the Student-t interval of the mean pass
    time, turned into QPS, given only from ``MIN_PASSES_FOR_INTERVAL`` passes on and only
    where it is finite and within ``MAX_INTERVAL_RATIO`` of the median (NaN otherwise: show
    min-max instead); cv: coefficient of variation of the pass times; unstable: cv above
    ``CV_THRESHOLD``.
    """
    from scipy import stats

    seconds = np.asarray(times_ns, dtype=np.float64) / 1e9
    per_pass = n_queries / seconds
    mean = seconds.mean()
    cv = float(seconds.std(ddof=1) / mean) if len(seconds) > 1 else 0.0
    qps = queries_per_second(n_queries, float(np.median(seconds)))
    ci_low = ci_high = float("nan")
    if len(seconds) >= MIN_PASSES_FOR_INTERVAL:
        half = stats.t.ppf(0.5 + level / 2, len(seconds) - 1) * seconds.std(ddof=1)
        half /= np.sqrt(len(seconds))
        if mean > half and n_queries / (mean - half) <= MAX_INTERVAL_RATIO * qps:
            ci_low, ci_high = n_queries / (mean + half), n_queries / (mean - half)
    q1, q3 = np.percentile(per_pass, [25, 75])
    return {
        "qps": qps,
        "qps_min": float(per_pass.min()),
        "qps_max": float(per_pass.max()),
        "qps_iqr": float(q3 - q1),
        "qps_ci_low": float(ci_low),
        "qps_ci_high": float(ci_high),
        "cv": cv,
        "unstable": bool(cv > CV_THRESHOLD),
    }


def latency_summary(latencies_ns) -> dict[str, float]:
    """Per-query latency percentiles and mean in milliseconds (all repeats pooled)."""
    if latencies_ns is None:
        return {f"latency_{name}_ms": np.nan for name in [*LATENCY_PERCENTILES, "mean"]}
    values = np.asarray(latencies_ns, dtype=np.float64).ravel() / 1e6
    summary = {
        f"latency_{name}_ms": float(np.percentile(values, q))
        for name, q in LATENCY_PERCENTILES.items()
    }
    summary["latency_mean_ms"] = float(values.mean())
    return summary


def recall_distribution(per_query: np.ndarray) -> dict[str, float]:
    """How recall spreads over queries: the share with recall 0 and with full recall, and the
    5th percentile."""
    per_query = np.asarray(per_query, dtype=np.float64)
    return {
        "recall_zero_share": float((per_query == 0).mean()),
        "recall_full_share": float((per_query == 1).mean()),
        "recall_p05": float(np.percentile(per_query, 5)),
    }
