"""The report's judged-task pages: per task, nDCG@10 of every embedding model under exact
search and each index configuration, the models' ranks with the shifts against exact search
marked, the agreement table (Kendall's tau, largest shift, nDCG drop) and the two figures.
Returns plain values for the templates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from annbench.analysis.ranking import EXACT, model_ranking, quality_points
from annbench.errors.files import write_text
from annbench.errors.names import file_stem
from annbench.views.judged_plots import plot_exact_vs_index, plot_quality_vs_qps
from annbench.views.report.format import figure, number

AGREEMENT_COLUMNS = [
    ("configuration", "configuration"),
    ("models", "models"),
    ("kendall_tau", "Kendall's tau"),
    ("largest_shift", "largest shift"),
    ("moved", "moved"),
    ("mean_drop", "mean nDCG@10 drop"),
    ("max_drop", "largest nDCG@10 drop"),
]


def judged_pages(
    frame, results_dir, data_dir: str | os.PathLike | None, out: Path, templates, common
) -> list[dict[str, Any]]:
    """Write a page per judged task among the runs of ``frame``; return the index's links
    (name, page, models, configurations). Nothing without a data folder to find the tasks."""
    from annbench.store.quality import Qrels, exact_references, has_judged, judged_frame

    if data_dir is None or frame.empty or not has_judged(frame, data_dir):
        return []  # reading every result file again only where there is something to show
    qrels = Qrels(data_dir)
    judged = judged_frame(results_dir, data_dir, qrels=qrels)
    judged = judged[judged["run_id"].isin(set(frame["run_id"])) & judged["status"].eq("ok")]
    pages = []
    for task, rows in judged.groupby("task", sort=True):
        points = quality_points(rows, exact_references(rows, data_dir, qrels))
        pages.append(_page(task, points, out, templates, common))
    return pages


def _page(task: str, points, out: Path, templates, common) -> dict[str, Any]:
    stem = file_stem(task)
    page = f"judged-{stem}.html"
    folder = out / "figures" / f"judged-{stem}"
    figures = []
    exact_vs_index = plot_exact_vs_index(points, folder / f"{stem}-exact-vs-index")
    if exact_vs_index:
        figures.append(figure(exact_vs_index, out, EXACT_CAPTION))
    against_qps = plot_quality_vs_qps(points, folder / f"{stem}-ndcg-qps")
    if against_qps:
        figures.append(figure(against_qps, out, QPS_CAPTION))
    tables = model_ranking(points, "ndcg@10") if (points["configuration"] == EXACT).any() else None
    context = {
        **common,
        "title": f"{task}: retrieval quality",
        "name": task,
        "figures": figures,
        "configurations": list(tables["scores"].columns) if tables else [],
        "ranking": _ranking_rows(tables) if tables else [],
        "agreement_columns": [title for _, title in AGREEMENT_COLUMNS],
        "agreement": [
            [_cell(row[key]) for key, _ in AGREEMENT_COLUMNS]
            for _, row in (tables["agreement"].iterrows() if tables else [])
        ],
    }
    write_text(out / page, templates.get_template("judged.html.j2").render(context))
    return {
        "name": task,
        "page": page,
        "models": int(points["model"].nunique()),
        "configurations": int(points["configuration"].nunique()) - 1,
        "largest_shift": int(tables["agreement"]["largest_shift"].max())
        if tables and len(tables["agreement"])
        else 0,
    }


EXACT_CAPTION = (
    "nDCG@10 of each model with exact search (x) and through each index configuration (y); "
    "below the diagonal the index costs retrieval quality"
)
QPS_CAPTION = (
    "nDCG@10 against QPS per model and index configuration (random insertion order); "
    "dashed: the model's nDCG@10 with exact search"
)


def _ranking_rows(tables) -> list[dict[str, Any]]:
    """Per model, per configuration: nDCG@10, its rank, and whether the rank moved."""
    import pandas as pd

    scores, ranks = tables["scores"], tables["ranks"]
    rows = []
    for model in scores.index:
        cells = []
        for configuration in scores.columns:
            rank, reference = ranks.at[model, configuration], ranks.at[model, EXACT]
            known = not pd.isna(rank)
            cells.append(
                {
                    "score": number(scores.at[model, configuration]),
                    "rank": str(rank) if known else "–",
                    "shift": int(rank - reference) if known and rank != reference else 0,
                }
            )
        rows.append({"model": model, "cells": cells})
    return rows


def _cell(value) -> str:
    return number(value) if isinstance(value, float) else str(value)
