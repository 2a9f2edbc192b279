"""The report's "is the difference real?" table: on one dataset, every pair of adapters at
their fastest single-mode points reaching recall 0.9, tested query by query (paired
Wilcoxon, Holm over the pairs; ``annbench.analysis.significance``). Pairs whose difference
the test does not support are marked as such."""

from __future__ import annotations

from typing import Any

from annbench.analysis.significance import LATENCY_MARGIN, compare_at_recall
from annbench.errors import UserError
from annbench.views.report.format import number

SIGNIFICANCE_RECALL = 0.9
COLUMNS = ["a", "b", "measure", "median a−b", "effect", "Holm p", "verdict"]


def significance_section(rows, recall: float = SIGNIFICANCE_RECALL) -> dict[str, Any] | None:
    """The table's context for one dataset's rows (with the per-query arrays), or None where
    fewer than two adapters have a single-mode point reaching ``recall``."""
    if "latency_per_query_ms" not in rows.columns:
        return None
    single = rows[(rows["status"] == "ok") & (rows["mode"] == "single")]
    names = sorted(single.loc[single["recall"] >= recall, "adapter"].unique())
    if len(names) < 2:
        return None
    try:
        chosen, pairs = compare_at_recall(single, recall, names, by="adapter")
    except UserError as exc:  # measured on different queries: nothing to pair
        return {"recall": recall, "problem": str(exc)}
    table = []
    for _, test in pairs.iterrows():
        difference = number(test["median_difference"], 4)
        if test["measure"] == "latency":
            difference = (
                f"{number(test['median_difference'], 4)} ms (a/b {test['median_ratio']:.2f})"
            )
        if test["significant"]:
            verdict = "significant"
        elif test["p_holm"] < 0.05:
            verdict = "not significant (within the drift margin)"
        else:
            verdict = "not significant"
        table.append(
            {
                "cells": [
                    test["a"],
                    test["b"],
                    test["measure"],
                    difference,
                    f"{test['effect_size']:+.2f}",
                    f"{test['p_holm']:.3g}",
                    verdict,
                ],
                "significant": bool(test["significant"]),
            }
        )
    points = [
        f"{row['adapter']} {row['query_params'] or 'defaults'} (recall {row['recall']:.3f})"
        for _, row in chosen.iterrows()
    ]
    return {
        "recall": recall,
        "points": points,
        "columns": COLUMNS,
        "rows": table,
        "margin": LATENCY_MARGIN,
        "problem": "",
    }
