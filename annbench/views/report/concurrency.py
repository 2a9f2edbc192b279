"""The report's concurrent-clients parts: a page per dataset with clients results (QPS and
p99 against clients, the table of every configuration at every level, harness-bound points
flagged) and the ranking's "QPS at p99 <= X ms" cells. Returns plain values for the
templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annbench.analysis.concurrency import QPS_DEFINITION, level_table, qps_at_p99
from annbench.analysis.difficulty import TARGET_RECALL
from annbench.errors.files import write_text
from annbench.errors.names import file_stem
from annbench.views.concurrency_plots import HARNESS_BOUND, plot_concurrency
from annbench.views.report.format import figure, number

COLUMNS = [
    "plotted",
    "adapter",
    "build",
    "query",
    "client mode",
    "clients",
    "recall",
    "QPS",
    "p50 ms",
    "p99 ms",
    "coverage",
    "ceiling QPS",
    "harness-bound",
    "runs",
]
CAPTIONS = {
    "qps": "QPS against concurrent clients (log), each adapter at its configuration nearest "
    "recall {target:g}; dashed: the harness's own ceiling, dotted: half of it",
    "p99": "p99 latency (pooled over clients) against concurrent clients (log), each adapter "
    "at its configuration nearest recall {target:g}",
}


def page_name(name: str) -> str:
    """The concurrency page of dataset ``name`` (its own prefix: no dataset page shares it)."""
    return f"concurrency-{file_stem(name)}.html"


def concurrency_pages(
    clients_rows,
    out: Path,
    templates,
    common: dict[str, Any],
    target: float = TARGET_RECALL,
) -> list[dict[str, Any]]:
    """Write a page per dataset among ``clients_rows`` (the frame's clients rows); return the
    index's links: name, page, the adapters and the harness-bound points."""
    pages = []
    for name, rows in clients_rows.groupby("dataset", sort=True):
        folder = out / "figures" / f"concurrency-{file_stem(name)}"
        paths = plot_concurrency(rows, folder / "clients", name, target=target)
        figures = [
            figure(own, out, caption.format(target=target))
            for view, caption in CAPTIONS.items()
            if (own := [p for p in paths if p.stem == f"clients-{view}"])
        ]
        table = level_table(rows, target)
        context = {
            **common,
            "title": f"{name}: concurrent clients",
            "name": name,
            "target": target,
            "definition": QPS_DEFINITION,
            "harness_bound": HARNESS_BOUND,
            "figures": figures,
            "columns": COLUMNS,
            "rows": [_row(row) for _, row in table.iterrows()],
        }
        page = page_name(name)
        write_text(out / page, templates.get_template("concurrency.html.j2").render(context))
        pages.append(
            {
                "name": name,
                "page": page,
                "adapters": int(table["adapter"].nunique()),
                "bound": int(table["harness_bound"].sum()),
            }
        )
    return pages


def _row(row) -> dict[str, Any]:
    bound = bool(row["harness_bound"])
    return {
        "bound": bound,
        "cells": [
            "●" if row["chosen"] else "",
            row["adapter"],
            row["build_params"],
            row["query_params"],
            row["client_mode"],
            str(int(row["clients"])),
            number(row["recall"]),
            number(row["qps"]),
            milliseconds(row["latency_p50_ms"]),
            milliseconds(row["latency_p99_ms"]),
            number(row["coverage"], 2),
            number(row["ceiling_qps"]),
            "H" if bound else "",
            str(int(row["runs"])),
        ],
    }


def milliseconds(value) -> str:
    """A latency in ms to three significant figures (sub-microsecond answers stay visible)."""
    return f"{value:.3g}" if value == value else "–"


def p99_cells(clients_rows, bound_ms: float) -> dict[str, dict[str, str]]:
    """adapter -> {"value", "title", "bound"}: its highest QPS at p99 <= ``bound_ms`` (any
    configuration and level) in one dataset's clients rows, "H" after a harness-bound value;
    the title names the level and configuration, or says that none met the bound."""
    cells = {}
    for _, best in qps_at_p99(clients_rows, bound_ms).iterrows():
        if best["qps"] != best["qps"]:
            title = f"no configuration at any level kept p99 latency within {bound_ms:g} ms"
            cells[best["adapter"]] = {"value": "–", "title": title, "bound": False}
            continue
        params = "; ".join(p for p in (best["build_params"], best["query_params"]) if p)
        clients = int(best["clients"])
        title = (
            f"at {clients} client{'s' if clients > 1 else ''}, "
            f"{params or 'its only configuration'} (recall {best['recall']:.3f}, "
            f"p99 {best['latency_p99_ms']:.3g} ms)"
        )
        bound = bool(best["harness_bound"])
        if bound:
            title += f"; {HARNESS_BOUND}"
        value = number(best["qps"]) + (" H" if bound else "")
        cells[best["adapter"]] = {"value": value, "title": title, "bound": bound}
    return cells
