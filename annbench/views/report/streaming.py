"""The report's streaming pages: per dataset with runbook results, for each runbook the
figure of recall, QPS and insert throughput over its steps and the table of runbook scores.
Returns plain values for the templates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from annbench.analysis.streaming import (
    DEFAULT_TARGET,
    INGESTION_COLUMNS,
    ingestion_table,
    nearest_score,
    runbook_scores,
)
from annbench.errors.files import write_text
from annbench.errors.names import file_stem
from annbench.views.report.format import figure, number
from annbench.views.streaming_plots import plot_streaming, step_records

COLUMNS = [
    "plotted",
    "adapter",
    "build",
    "query",
    "mode",
    "threads",
    "score",
    "worst step",
    "mean QPS",
    "steps",
    "runs",
]


def streaming_pages(
    runbook_rows,
    results_dir: str | os.PathLike,
    out: Path,
    templates,
    common: dict[str, Any],
    target: float = DEFAULT_TARGET,
) -> list[dict[str, Any]]:
    """Write a page per dataset among ``runbook_rows`` (the frame's runbook rows, failed
    runs included); return the index's links: name, page and the number of runbooks."""
    pages = []
    for name, rows in runbook_rows.groupby("dataset", sort=True):
        # a prefix of its own (as every page kind has), so no dataset's name can reach it
        stem = file_stem(name)
        page = f"streaming-{stem}.html"
        ok = rows[rows["status"] == "ok"]
        records = step_records(results_dir, ok["run_id"].unique())
        folder = out / "figures" / f"streaming-{stem}"
        paths = plot_streaming(ok, folder / stem, name, records=records, target=target)
        scores = runbook_scores(ok)
        chosen = set(nearest_score(scores, target).index)
        sections = []
        for runbook, table in scores.groupby("runbook", sort=True):
            own = [p for p in paths if p.stem == f"{stem}-{file_stem(runbook)}"]
            sections.append(
                {
                    "name": runbook,
                    "figure": figure(own, out, _caption(runbook, target)) if own else None,
                    "rows": [_row(row, index in chosen) for index, row in table.iterrows()],
                }
            )
        context = {
            **common,
            "title": f"{name}: streaming runbooks",
            "name": name,
            "target": target,
            "columns": COLUMNS,
            "runbooks": sections,
            "ingestion_columns": INGESTION_COLUMNS[1:],
            "ingestion": [
                [_cell(row[column]) for column in INGESTION_COLUMNS[1:]]
                for _, row in ingestion_table(ok).iterrows()
            ],
            "failures": [
                {"label": r["label"], "error": r["error"]}
                for _, r in rows[rows["status"] != "ok"].drop_duplicates("run_id").iterrows()
            ],
        }
        write_text(out / page, templates.get_template("streaming.html.j2").render(context))
        pages.append({"name": name, "page": page, "runbooks": len(sections)})
    return pages


def _cell(value) -> str:
    return number(value) if isinstance(value, float) else str(value)


def _caption(runbook: str, target: float) -> str:
    return (
        f"Runbook {runbook}: recall, QPS (log) and insert throughput (log) over its steps, "
        f"each adapter at its configuration whose score is nearest {target:g}"
    )


def _row(row, plotted: bool) -> list[str]:
    threads = row["search_threads"]
    return [
        "●" if plotted else "",
        row["adapter"],
        row["build_params"],
        row["query_params"],
        row["mode"],
        "–" if threads is None or threads != threads else str(int(threads)),
        number(row["score"]),
        number(row["recall_min"]),
        number(row["qps"]),
        str(int(row["steps"])),
        str(int(row["runs"])),
    ]
