"""How far an index reorders embedding models: each configuration ranks the models by a
quality measure (nDCG@10 against relevance judgements), and that ranking is set beside the
ranking exact search gives (Elliott & Clark, ICTIR 2024, finding three).

Pure functions of a table with one row per (model, configuration): the rank of every model
under every configuration (1 = best; tied scores share the better rank), Kendall's tau-b
between the exact ranking and each configuration's (scipy), the largest rank shift and the
drop in the measure.
"""

from __future__ import annotations

import math

import numpy as np

EXACT = "exact"


def ranks(scores) -> np.ndarray:
    """Ranks of ``scores`` (higher is better): 1 for the best, ties share the better rank,
    NaN stays NaN."""
    from scipy.stats import rankdata

    values = np.asarray(scores, dtype=float)
    out = np.full(len(values), np.nan)
    known = ~np.isnan(values)
    out[known] = rankdata(-values[known], method="min")
    return out


def kendall_tau(reference, other) -> tuple[float, float]:
    """(tau-b, two-sided p) between two score vectors over the same models, pairs with a
    missing score left out; NaN where fewer than two models remain or one side is constant."""
    from scipy.stats import kendalltau

    a, b = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    if keep.sum() < 2 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return math.nan, math.nan
    result = kendalltau(a[keep], b[keep])
    return float(result.statistic), float(result.pvalue)


def model_ranking(points, measure: str = "ndcg@10", reference: str = EXACT) -> dict:
    """Tables from ``points`` (columns ``model``, ``configuration`` and ``measure``; one row
    per pair, ``reference`` among the configurations):

    - ``scores``: the measure, models down, configurations across (reference first);
    - ``ranks``: each model's rank under each configuration;
    - ``agreement``: per configuration, Kendall's tau and its p against the reference, the
      largest absolute rank shift and the models that moved (``name +2`` = two places down),
      and the mean and largest drop of the measure (reference minus configuration).
    """
    import pandas as pd

    scores = points.pivot_table(index="model", columns="configuration", values=measure)
    if reference not in scores.columns:
        raise ValueError(f"no {reference!r} configuration among the points")
    columns = [reference, *sorted(c for c in scores.columns if c != reference)]
    scores = scores[columns].sort_values(reference, ascending=False)
    rank_table = scores.apply(lambda column: pd.Series(ranks(column), index=column.index))
    rows = []
    for configuration in columns[1:]:
        tau, p = kendall_tau(scores[reference], scores[configuration])
        shift = rank_table[configuration] - rank_table[reference]
        moved = shift[shift.notna() & (shift != 0)]
        drop = scores[reference] - scores[configuration]
        rows.append(
            {
                "configuration": configuration,
                "models": int(scores[configuration].notna().sum()),
                "kendall_tau": tau,
                "p": p,
                "largest_shift": int(moved.abs().max()) if len(moved) else 0,
                "moved": ", ".join(f"{m} {int(s):+d}" for m, s in moved.items()),
                "mean_drop": float(drop.mean()),
                "max_drop": float(drop.max()),
            }
        )
    agreement = pd.DataFrame(
        rows,
        columns=[
            "configuration",
            "models",
            "kendall_tau",
            "p",
            "largest_shift",
            "moved",
            "mean_drop",
            "max_drop",
        ],
    )
    return {"scores": scores, "ranks": rank_table.astype("Int64"), "agreement": agreement}


def configuration_name(row, build: str | None = None) -> str:
    """``adapter build query [order]`` for a sweep point's row (``build``: a shorter name for
    its build parameters); the order is left out where it is random or original."""
    build = row["build_params"] if build is None else build
    name = " ".join(part for part in (row["adapter"], build, row["query_params"]) if part)
    order = row.get("insertion_order")
    return name if order in (None, "random", "original") else f"{name} [{order}]"


def quality_points(judged, exact: list[dict], name=configuration_name):
    """One row per (model, configuration) of the successful batch-mode points of ``judged``
    (their measures, recall and QPS, averaged over seeds), with ``exact`` (one dict of
    measures per model) as the configuration ``exact``."""
    import pandas as pd

    ok = judged[(judged["status"] == "ok") & (judged["mode"] == "batch")].copy()
    ok["configuration"] = [name(row) for _, row in ok.iterrows()]
    keep = ["model", "configuration", "ndcg@10", "rr@10", "recall@100", "recall", "qps"]
    reference = pd.DataFrame(
        [{**row, "configuration": EXACT, "recall": 1.0, "qps": math.nan} for row in exact]
    )
    points = pd.concat([reference.reindex(columns=keep), ok[keep]], ignore_index=True)
    return points.groupby(["model", "configuration"], as_index=False, sort=False).mean()
