"""Comparisons across builds of the results frame: confidence intervals over seeds, the
insertion-order effect with Welch's test and the interval of the difference, the spread of
recall and QPS over seeds."""

from __future__ import annotations

import warnings

import numpy as np


def mean_confidence_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (0 for a single value)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, 0.0
    sem = values.std(ddof=1) / np.sqrt(len(values))
    return mean, float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * sem)


def order_effect(frame, baseline: str = "random", level: float = 0.95):
    """Mean recall per (dataset, adapter, query params, order) over seeds, against ``baseline``.

    ``recall`` and ``ci95``: the order's mean over seeds and the half-width of its own 95%
    interval (what error bars show); ``gap_pp``: the difference of means to ``baseline`` in
    percentage points; ``gap_ci_low_pp``/``gap_ci_high_pp``: the 95% interval of that
    difference (Welch-Satterthwaite); ``p_welch``: Welch's t-test of the order against the
    baseline; ``significant``: p < 0.05, which is exactly when the difference's interval
    excludes 0. Where either side has fewer than two seeds, or neither has any spread, the
    test says nothing: NaN and not significant. The baseline row is never significant.
    """
    import pandas as pd

    ok = frame[frame["status"] == "ok"]
    keys = ["dataset", "adapter", "query_params"]
    rows = []
    for (dataset, adapter, query), setting in ok.groupby(keys, sort=True):
        reference = setting.loc[setting["insertion_order"] == baseline, "recall"].to_numpy()
        reference_mean = reference.mean() if len(reference) else np.nan
        for order, group in setting.groupby("insertion_order", sort=True):
            recalls = group["recall"].to_numpy()
            mean, half = mean_confidence_interval(recalls, level)
            if order == baseline:
                p_value, low, high = np.nan, np.nan, np.nan
            else:
                p_value, low, high = welch_difference(recalls, reference, level)
            rows.append(
                {
                    "dataset": dataset,
                    "adapter": adapter,
                    "query_params": query,
                    "order": order,
                    "seeds": len(recalls),
                    "recall": mean,
                    "ci95": half,
                    "gap_pp": 100 * (mean - reference_mean),
                    "gap_ci_low_pp": 100 * low,
                    "gap_ci_high_pp": 100 * high,
                    "p_welch": p_value,
                    "significant": bool(p_value < 1 - level),
                }
            )
    return pd.DataFrame(rows)


def welch_difference(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """Welch's t-test of mean(a) - mean(b): (p, low, high), the interval at ``level``.

    NaN throughout where either sample has fewer than two values or neither has any spread
    (then no standard error can be estimated and scipy would claim p = 0).
    """
    from scipy import stats

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return np.nan, np.nan, np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical samples
        result = stats.ttest_ind(a, b, equal_var=False)
        interval = result.confidence_interval(level)
    return float(result.pvalue), float(interval.low), float(interval.high)


SPREAD_KEYS = [
    "dataset",
    "adapter",
    "build_params",
    "build_threads",
    "insertion_order",
    "query_params",
    "mode",
    "search_threads",
]


def seed_spread(frame):
    """Recall and QPS across build seeds for each configuration: mean, std, min and max."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty:
        return ok
    keys = [key for key in SPREAD_KEYS if key in ok.columns]
    grouped = ok.groupby(keys, dropna=False, sort=True)
    spread = grouped.agg(
        seeds=("seed", "nunique"),
        recall_mean=("recall", "mean"),
        recall_std=("recall", "std"),
        recall_min=("recall", "min"),
        recall_max=("recall", "max"),
        qps_median=("qps", "median"),
    )
    return spread.reset_index()
