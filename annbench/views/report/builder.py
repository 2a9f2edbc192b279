"""The static HTML report: an index with a ranking per dataset, a page per dataset, the
environment. Self-contained (no network, opens from file://): figures are matplotlib SVG and
PNG files beside the pages, and the templates only loop over what this module prepares.
Every value reaches the page through Jinja's autoescaping, so names cannot inject markup.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from annbench.analysis.concurrency import DEFAULT_P99_BOUND_MS, is_clients
from annbench.analysis.difficulty import nearest_recall_points, qps_at_recall_by_adapter
from annbench.analysis.pareto import pareto_front
from annbench.analysis.streaming import is_runbook
from annbench.errors import UserError
from annbench.errors.files import ensure_folder, write_text
from annbench.errors.names import file_stem
from annbench.views.report.format import figure, number

RECALL_TARGETS = (0.90, 0.95, 0.99)
VIEW_CAPTIONS = {
    "build": "Recall vs index build time",
    "memory": "Recall vs index memory (hollow: the build's RSS growth, where the library "
    "reports no size)",
    "latency": "Single-query latency percentiles against recall",
    "order": "Recall by insertion order, 95% CI over seeds",
}
HERE = Path(__file__).parent
POINT_COLUMNS = [
    ("★", None),
    ("adapter", "adapter"),
    ("build", "build_params"),
    ("query", "query_params"),
    ("mode", "mode"),
    ("threads", "search_threads"),
    ("order", "insertion_order"),
    ("seed", "seed"),
    ("recall", "recall"),
    ("QPS", "qps"),
    ("QPS range", None),
    ("CV", "cv"),
    ("p99 ms", "latency_p99_ms"),
    ("build s", "build_time_s"),
    ("index MB", "index_memory_bytes"),
]


def _templates():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def build_report(
    results_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    frame=None,
    data_dir: str | os.PathLike | None = None,
    p99_bound_ms: float = DEFAULT_P99_BOUND_MS,
) -> Path:
    """Write the report for the results under ``results_dir`` (or for ``frame``, loaded with
    ``load_frame(..., per_query=True)``) into ``out_dir``; return the index page. The dataset
    files (at the paths the results read, else NAME.hdf5 in ``data_dir``) give the per-query
    difficulty measures and provenance of the query-difficulty views. Where there are
    concurrent-clients results, the ranking has a column of QPS at p99 latency <=
    ``p99_bound_ms``."""
    from annbench.views.difficulty_plots import dataset_facts
    from annbench.views.report import concurrency, difficulty
    from annbench.views.report.judged import judged_pages
    from annbench.views.report.significance import significance_section
    from annbench.views.report.streaming import streaming_pages

    if frame is None:
        from annbench.store.frame import load_frame

        frame = load_frame(results_dir, per_query=True, data_dir=data_dir)
    if frame.empty:
        raise UserError(f"no results in {results_dir}; run `annbench run` first")
    out = Path(out_dir)
    ensure_folder(out / "figures")
    for asset in ("style.css", "sort.js"):
        write_text(out / asset, (HERE / asset).read_text())
    templates = _templates()
    common = {
        "root": "",
        "generated": datetime.datetime.now().isoformat(timespec="minutes"),
    }
    datasets = []
    clients = is_clients(frame)  # concurrent clients: pages of their own and one column
    static = frame["workload"].fillna("static").eq("static") & ~clients
    runbook = is_runbook(frame)  # streaming: pages of their own, never in static views
    filtered = _filtered_pages(frame[~static & ~runbook & ~clients], out, templates, common)
    streaming = streaming_pages(frame[runbook], results_dir, out, templates, common)
    concurrent = concurrency.concurrency_pages(frame[clients], out, templates, common)
    judged = judged_pages(frame[static], results_dir, data_dir, out, templates, common)
    pages = {page["name"]: page["page"] for page in concurrent}
    facts = dataset_facts(frame[static], data_dir)
    for name in sorted(set(frame.loc[static | clients, "dataset"])):
        rows = frame[static & frame["dataset"].eq(name)]
        own_clients = frame[clients & frame["dataset"].eq(name)]
        p99 = concurrency.p99_cells(own_clients, p99_bound_ms) if len(own_clients) else None
        if rows.empty:  # only concurrent-clients results: the ranking links to their page
            datasets.append(
                {
                    "name": name,
                    "page": pages[name],
                    "description": _describe(own_clients),
                    "summary": _summary(rows, {}, own_clients, p99),
                    "p99": True,
                    "concurrency": None,  # the page is the concurrency page
                }
            )
            continue
        page = f"dataset-{file_stem(name)}.html"
        description = _describe(rows)
        context = {
            **common,
            "title": name,
            "name": name,
            "description": description,
            "figures": _dataset_figures(rows, out, file_stem(name)),
            "difficulty": difficulty.difficulty_section(
                rows, name, facts.get(name), out, file_stem(name)
            ),
            "significance": significance_section(rows),
            "columns": [title for title, _ in POINT_COLUMNS],
            "rows": _point_rows(rows),
            "failures": [
                {"label": r["label"], "error": r["error"]}
                for _, r in rows[rows["status"] != "ok"].drop_duplicates("run_id").iterrows()
            ],
        }
        write_text(out / page, templates.get_template("dataset.html.j2").render(context))
        hardest = difficulty.hardest_cells(rows, name, facts.get(name))
        datasets.append(
            {
                "name": name,
                "page": page,
                "description": description,
                "summary": _summary(rows, hardest, own_clients, p99),
                "p99": p99 is not None,
                "concurrency": pages.get(name),
            }
        )
    write_text(
        out / "environment.html",
        templates.get_template("environment.html.j2").render(
            {**common, "title": "environment", "manifests": _manifests(results_dir)}
        ),
    )
    index = out / "index.html"
    write_text(
        index,
        templates.get_template("index.html.j2").render(
            {
                **common,
                "title": "summary",
                "datasets": datasets,
                "filtered": filtered,
                "streaming": streaming,
                "judged": judged,
                "concurrency": concurrent,
                "p99_bound": f"{p99_bound_ms:g}",
                "qps_definition": concurrency.QPS_DEFINITION,
                "harness_bound": concurrency.HARNESS_BOUND,
                "targets": RECALL_TARGETS,
                "hardest_title": difficulty.HARDEST_TITLE,
                "ood": difficulty.ood_sections(frame[static & frame["status"].eq("ok")], facts),
                "ood_recall": difficulty.OOD_RECALL,
            }
        ),
    )
    return index


def _filtered_pages(frame, out: Path, templates, common) -> list[dict[str, Any]]:
    """A page per dataset with filter workloads: the cell table (recall and QPS per
    selectivity x correlation, QPS at recall 0.9) and the filtered figures."""
    from annbench.analysis.filtered import cell_table
    from annbench.views.filtered_plots import plot_filtered

    pages = []
    for name, rows in frame.groupby("dataset", sort=True):
        table = cell_table(rows)
        if table.empty:
            continue
        stem = file_stem(name)  # the page and figures under a prefix of their own
        page = f"filtered-{stem}.html"
        paths = plot_filtered(rows, out / "figures" / f"filtered-{stem}" / stem, name, table=table)
        figures = [
            figure([p for p in paths if p.stem == f"{stem}-{view}"], out, caption)
            for view, caption in FILTERED_CAPTIONS.items()
            if any(p.stem == f"{stem}-{view}" for p in paths)
        ]
        columns = ["filter", "target_selectivity", "correlation", "method", "selectivity"]
        columns += ["alpha_median", "query_params", "recall", "qps", "qps_at_recall_0.9"]
        context = {
            **common,
            "title": f"{name}: filtered search",
            "name": name,
            "figures": figures,
            "columns": columns,
            "rows": [[_cell(row[c]) for c in columns] for _, row in table.iterrows()],
            "failures": [
                {"label": r["label"], "error": r["error"]}
                for _, r in rows[rows["status"] != "ok"].drop_duplicates("run_id").iterrows()
            ],
        }
        write_text(out / page, templates.get_template("filtered.html.j2").render(context))
        pages.append({"name": name, "page": page, "workloads": int(rows["workload"].nunique())})
    return pages


FILTERED_CAPTIONS = {
    "recall-qps": "Recall vs QPS per target selectivity (line style: correlation)",
    "qps-selectivity": "QPS at recall 0.9 against selectivity, one panel per correlation",
    "recall-alpha": "Per-query recall against alpha (rank of the 10th passing vector)",
}


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return number(value)
    return "" if value is None else str(value)


def _describe(rows) -> str:
    ok = rows[rows["status"] == "ok"]
    adapters = ", ".join(sorted(rows["adapter"].unique()))
    k = int(ok["k"].iloc[0]) if not ok.empty else "?"
    queries = int(ok["n_queries"].iloc[0]) if not ok.empty else "?"
    return f"k={k}, {queries} queries; adapters: {adapters}; {len(rows)} points"


def _summary(
    rows, hardest: dict[str, dict[str, str]], clients_rows=None, p99=None
) -> list[dict[str, Any]]:
    """Per adapter (of the static ``rows`` and the ``clients_rows``): QPS at each recall
    target on its frontier (blank without a static sweep), best recall, recall on the hardest
    queries (``hardest``: adapter -> value and tooltip), QPS at the p99 bound (``p99``:
    adapter -> value and tooltip, from the clients rows), number of runs."""
    import pandas as pd

    ok = rows[rows["status"] == "ok"]
    qps = [qps_at_recall_by_adapter(ok, target) for target in RECALL_TARGETS]
    every = pd.concat([rows, clients_rows]) if clients_rows is not None else rows
    measured = every[every["status"] == "ok"]  # recall covers every query under clients too
    none = {"value": "–", "title": "no concurrent-clients results", "bound": False}
    summary = []
    for adapter in sorted(every["adapter"].unique()):
        static = (ok["adapter"] == adapter).any()
        summary.append(
            {
                "adapter": adapter,
                "qps": [number(at.get(adapter)) if static else "" for at in qps],
                "best_recall": number(measured.loc[measured["adapter"] == adapter, "recall"].max()),
                "hardest": hardest.get(adapter, {"value": "", "title": ""}),
                "p99": (p99 or {}).get(adapter, none),
                "runs": int(every.loc[every["adapter"] == adapter, "run_id"].nunique()),
            }
        )
    return summary


def _point_rows(rows) -> list[list[str]]:
    ok = rows[rows["status"] == "ok"]
    on_front = set()
    for _, points in ok.groupby("adapter"):
        on_front |= set(pareto_front(points).index)
    table = []
    for index, row in ok.sort_values(["adapter", "recall"]).iterrows():
        cells = []
        for title, column in POINT_COLUMNS:
            if title == "★":
                cells.append("★" if index in on_front else "")
            elif title == "QPS range":
                cells.append(_qps_range(row))
            elif column == "index_memory_bytes":
                cells.append(_memory_cell(row))
            elif isinstance(row[column], (float, np.floating, int, np.integer)):
                cells.append(number(row[column]))
            else:
                cells.append("" if row[column] is None else str(row[column]))
        table.append(cells)
    return table


def _memory_cell(row) -> str:
    """The library's index size in MB, else "~" and the build's RSS growth, else "–"."""
    value, rss = row["index_memory_bytes"], row.get("build_rss_delta_bytes")
    if value == value and value:
        return number(value / 1e6, 1)
    if rss is not None and rss == rss and rss > 0:
        return "~" + number(rss / 1e6, 1)
    return "–"


def _qps_range(row) -> str:
    """95% interval where enough passes stand behind one, else slowest-fastest pass."""
    if np.isfinite(row["qps_ci_low"]):
        return f"{number(row['qps_ci_low'])}–{number(row['qps_ci_high'])} (95% CI)"
    if row["repeats"] < 2 or not np.isfinite(row["qps_min"]):
        return "–"
    return f"{number(row['qps_min'])}–{number(row['qps_max'])} (min–max)"


def _dataset_figures(rows, out: Path, slug: str) -> list[dict[str, str]]:
    from annbench.views import plots

    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        return []
    folder = out / "figures"
    figures = [
        figure(
            plots.plot_pareto(ok, folder / slug),
            out,
            "Recall vs QPS: each adapter's Pareto frontier (log QPS; up and right is better)",
        ),
    ]
    for view, caption in VIEW_CAPTIONS.items():
        paths = plots.plot_view(ok, view, folder / f"{slug}-{view}", str(ok["dataset"].iloc[0]))
        if paths:
            figures.append(figure(paths, out, caption))
    chosen = nearest_recall_points(ok, 0.9)
    figures.append(
        figure(
            plots.plot_recall_distribution(
                chosen, folder / f"{slug}-per-query", "Per-query recall near mean recall 0.9"
            ),
            out,
            "How recall spreads over queries (each adapter's point nearest mean recall 0.9)",
        )
    )
    return figures


def _manifests(results_dir) -> list[dict[str, Any]]:
    """Distinct environment manifests among the results, flattened for a two-column table."""
    from annbench.store.results import read_environment, result_files

    seen: dict[str, dict[str, Any]] = {}
    for path in result_files(results_dir):
        try:
            environment = read_environment(path)
        except (OSError, ValueError, KeyError):
            continue  # not a result file; load_frame has said so already
        environment = {k: v for k, v in environment.items() if k != "cpu_affinity"}
        key = json.dumps(environment, sort_keys=True, default=str)
        seen.setdefault(key, environment)
    manifests = []
    for count, environment in enumerate(seen.values(), 1):
        items = []
        for key, value in environment.items():
            if key == "cpu_flags":
                value = " ".join(value)
            elif isinstance(value, (dict, list)):
                value = json.dumps(value)
            items.append((key, value))
        title = f"{count}. {environment.get('hostname', '?')}: {environment.get('cpu_model', '?')}"
        manifests.append({"title": title, "entries": items})
    return manifests
