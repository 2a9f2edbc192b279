"""Comparisons across builds of the results frame: confidence intervals over seeds, the
insertion-order effect with Welch's test, the spread of recall and QPS over seeds."""

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


def order_effect(frame, baseline: str = "random"):
    """Mean recall per (dataset, adapter, query params, order) over seeds, with its 95% CI.

    ``gap_pp``: difference to ``baseline`` in percentage points; ``beyond_ci``: the gap exceeds
    the order's own CI half-width; ``p_welch``: Welch's t-test of the order against the baseline
    (NaN where either has fewer than two seeds or no spread).
    """
    import pandas as pd
    from scipy import stats

    ok = frame[frame["status"] == "ok"]
    keys = ["dataset", "adapter", "query_params"]
    rows = []
    for (dataset, adapter, query), setting in ok.groupby(keys, sort=True):
        reference = setting.loc[setting["insertion_order"] == baseline, "recall"].to_numpy()
        reference_mean = reference.mean() if len(reference) else np.nan
        for order, group in setting.groupby("insertion_order", sort=True):
            recalls = group["recall"].to_numpy()
            mean, half = mean_confidence_interval(recalls)
            gap = 100 * (mean - reference_mean)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # identical samples: NaN
                p_value = stats.ttest_ind(recalls, reference, equal_var=False).pvalue
            rows.append(
                {
                    "dataset": dataset,
                    "adapter": adapter,
                    "query_params": query,
                    "order": order,
                    "seeds": len(recalls),
                    "recall": mean,
                    "ci95": half,
                    "gap_pp": gap,
                    "beyond_ci": bool(abs(gap) > 100 * half) if order != baseline else False,
                    "p_welch": float(p_value) if order != baseline else np.nan,
                }
            )
    return pd.DataFrame(rows)


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
