"""Filtered search, summarised per cell of the selectivity x correlation grid: pure functions
of the results frame."""

from __future__ import annotations

import numpy as np

from annbench.analysis.pareto import pareto_front, qps_at_recall

CELL = ["dataset", "filter", "target_selectivity", "correlation"]


def filtered_rows(frame):
    """The ok rows of filter workloads, with ``method``: the adapter, or postfilter(adapter)
    xF for post-filtering at over-fetch factor F (each factor its own method: the factor is
    what a post-filtering user chooses)."""
    workload = frame["workload"].fillna("static").astype(str)
    rows = frame[
        (frame["status"] == "ok") & workload.ne("static") & ~workload.str.startswith("runbook:")
    ]
    overfetch = rows["query.overfetch"] if "query.overfetch" in rows else [None] * len(rows)
    method = [
        f"{strategy}({adapter}) x{factor:g}" if strategy not in ("", "native") else adapter
        for adapter, strategy, factor in zip(
            rows["adapter"], rows["strategy"].fillna(""), overfetch
        )
    ]
    return rows.assign(method=method, target_selectivity=rows["target_selectivity"].fillna(-1))


def cell_table(frame, reference: dict[str, str] | None = None, target: float = 0.9):
    """One row per (cell, method): recall and QPS at the method's reference query parameters
    (``reference``: adapter or method -> query parameters text without the over-fetch;
    default: its point of highest recall in the cell) and the QPS its frontier reaches at
    recall ``target`` (NaN where it does not)."""
    import pandas as pd

    rows = filtered_rows(frame)
    table = []
    for (*cell, method), points in rows.groupby([*CELL, "method"], sort=True):
        chosen = points
        wanted = (reference or {}).get(method, (reference or {}).get(points["adapter"].iloc[0]))
        if wanted is not None:
            chosen = points[points["query_params"].str.startswith(wanted)]
        best = (chosen if not chosen.empty else points).sort_values("recall").iloc[-1]
        table.append(
            {
                **dict(zip(CELL, cell)),
                "method": method,
                "selectivity": float(points["selectivity"].mean()),
                "alpha_median": float(points["alpha_median"].mean()),
                "query_params": best["query_params"],
                "recall": float(best["recall"]),
                "qps": float(best["qps"]),
                f"qps_at_recall_{target:g}": qps_at_recall(pareto_front(points), target),
            }
        )
    result = pd.DataFrame(table)
    if not result.empty:
        result["target_selectivity"] = result["target_selectivity"].replace(-1, np.nan)
    return result
