"""The report's query-difficulty parts: recall on the hardest queries for the ranking, a
difficulty section per dataset, and QPS on in-distribution vs out-of-distribution queries.
Each returns plain values for the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annbench.analysis.difficulty import (
    DEFAULT_BINS,
    HARDEST_SHARE,
    OOD_RECALL,
    TARGET_RECALL,
    bins_wide,
    in_vs_out_of_distribution,
    nearest_recall_points,
    recall_by_difficulty,
)
from annbench.views.difficulty_plots import (
    PLOT_MEASURES,
    DatasetFacts,
    dataset_binnings,
    describe_hint,
    hardest_share_recall,
    hardness_direction,
    plot_recall_by_difficulty,
)
from annbench.views.report.format import figure, number

HARDEST_MEASURE = "lid_100"
HARDEST_TITLE = (
    f"Mean recall over the hardest {HARDEST_SHARE:.0%} of the queries by query LID "
    f"(MLE over 100 neighbours), at each adapter's point nearest mean recall {TARGET_RECALL:g}"
)


def _missing(name: str, facts: DatasetFacts | None, measure: str) -> str | None:
    """Why ``measure`` cannot be shown for a dataset (None: it can)."""
    if facts is None or facts.path is None:
        return f"the file of dataset {name} was not found"
    if not facts.measures:
        return f"dataset {name} stores no per-query measures; {describe_hint(name)}"
    if measure not in facts.measures:
        return f"dataset {name} stores no {measure} (its ground truth is too shallow)"
    return None


def hardest_cells(rows, name: str, facts: DatasetFacts | None) -> dict[str, dict[str, str]]:
    """adapter -> {"value", "title"}: recall on the hardest queries at the adapter's point
    nearest ``TARGET_RECALL``; the value blank and the title saying why where there is none."""
    ok = rows[rows["status"] == "ok"]
    reason = _missing(name, facts, HARDEST_MEASURE)
    if reason is None and "recall_per_query" not in ok.columns:
        reason = "the results were loaded without per-query recall"
    cells = {adapter: {"value": "", "title": reason or ""} for adapter in rows["adapter"]}
    if reason is not None:
        return cells
    values = facts.measures[HARDEST_MEASURE]
    for _, point in nearest_recall_points(ok, TARGET_RECALL).iterrows():
        recall = hardest_share_recall(point["recall_per_query"], values, HARDEST_MEASURE)
        params = "; ".join(p for p in (point["build_params"], point["query_params"]) if p)
        cells[point["adapter"]] = {
            "value": number(recall),
            "title": f"at {params or 'its only point'} (mean recall {point['recall']:.3f})",
        }
    return cells


def difficulty_section(
    rows, name: str, facts: DatasetFacts | None, out: Path, slug: str
) -> dict[str, Any] | None:
    """The dataset page's difficulty section: recall-vs-LID and recall-vs-RC figures and a
    table of recall per LID (else RC) quintile at each adapter's point nearest
    ``TARGET_RECALL``; None where the dataset stores neither measure."""
    ok = rows[rows["status"] == "ok"]
    shown = [m for m in PLOT_MEASURES if _missing(name, facts, m) is None]
    if not shown or ok.empty or "recall_per_query" not in ok.columns:
        return None
    paths = plot_recall_by_difficulty(
        ok, facts.measures, out / "figures" / f"{slug}-difficulty", name, target=TARGET_RECALL
    )
    figures = [
        figure([p for p in paths if p.stem.endswith(measure)], out, caption)
        for measure, caption in (
            ("lid_100", "Recall against query LID (high LID: hard), per bin of queries"),
            ("rc_10", "Recall against query relative contrast (low RC: hard), per bin of queries"),
        )
        if any(p.stem.endswith(measure) for p in paths)
    ]
    measure = shown[0]
    binning = dataset_binnings({name: facts.measures}, measure, DEFAULT_BINS)[name]
    table = bins_wide(
        recall_by_difficulty(nearest_recall_points(ok, TARGET_RECALL), {name: binning})
    )
    bins = [f"bin {b}: {low:.3g}–{high:.3g}" for b, (low, high) in enumerate(binning.ranges, 1)]
    return {
        "figures": figures,
        "measure": measure,
        "direction": hardness_direction(measure),
        "bins": binning.bins,
        "undefined": binning.undefined,
        "columns": ["adapter", "build", "query", "recall", *bins],
        "rows": [
            [
                row["adapter"],
                row["build_params"],
                row["query_params"],
                number(row["recall"]),
                *(number(row[f"bin {b}"]) for b in range(1, binning.bins + 1)),
            ]
            for _, row in table.iterrows()
        ],
    }


def ood_sections(static, facts: dict[str, DatasetFacts]) -> list[dict[str, Any]]:
    """For every out-of-distribution query set whose parent also has results: QPS at recall
    ``OOD_RECALL`` per adapter on the parent's and on the shifted queries, and their ratio."""
    sections = []
    names = set(static["dataset"])
    for name in sorted(names):
        source = facts[name].source if name in facts else {}
        parent = source.get("parent")
        if source.get("generator") != "ood" or parent not in names:
            continue
        table = in_vs_out_of_distribution(
            static[static["dataset"] == parent], static[static["dataset"] == name], OOD_RECALL
        )
        shift = ", ".join(f"{k} {source[k]}" for k in ("kind", "shift") if k in source)
        sections.append(
            {
                "name": name,
                "parent": parent,
                "shift": shift,
                "rows": [
                    [row["adapter"], number(row["qps_parent"]), number(row["qps_ood"])]
                    + [number(row["ratio"], 2)]
                    for _, row in table.iterrows()
                ],
            }
        )
    return sections
