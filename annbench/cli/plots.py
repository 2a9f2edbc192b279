"""annbench plot: the common views of the results, per dataset, as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import click

from annbench.cli.base import Context, cli, include_stale_option, load_results, note, pass_context
from annbench.cli.views import RUNBOOK_HINT
from annbench.errors import UserError

VIEWS = (
    "pareto",
    "build",
    "memory",
    "latency",
    "order",
    "filtered",
    "difficulty",
    "streaming",
    "concurrency",
)
CLIENTS_HINT = (
    "add `clients: [1, 2, 4]` and `duration: 10` to an experiment spec and `annbench run SPEC`"
)


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: RESULTS_DIR/plots).",
)
@click.option(
    "--view",
    type=click.Choice(VIEWS),
    default="pareto",
    show_default=True,
    help="pareto: frontier of --y against --x; build / memory: build time or index "
    "size against recall; latency: single-query percentiles; order: recall by "
    "insertion order; filtered: filter workloads by selectivity and correlation; "
    "difficulty: recall against query LID and RC; streaming: recall, QPS and insert "
    "throughput over the steps of each runbook; concurrency: QPS and p99 latency against "
    "concurrent clients, beside the harness's own ceiling.",
)
@click.option("--dataset", help="Only this dataset.")
@click.option("--x", "x", default="recall", show_default=True, help="pareto: x-axis metric.")
@click.option("--y", "y", default="qps", show_default=True, help="pareto: y-axis metric (log).")
@click.option(
    "--near-recall",
    type=float,
    help="difficulty: draw each adapter at its point nearest this mean recall "
    "[default: 0.95]; streaming: at its configuration whose score (mean recall over the "
    "search steps) is nearest it [default: 0.9]; concurrency: at its configuration whose "
    "recall is nearest it [default: 0.95].",
)
@include_stale_option
@pass_context
def plot(
    obj: Context,
    out: Path | None,
    view: str,
    dataset: str | None,
    x: str,
    y: str,
    near_recall: float | None,
    include_stale: bool,
) -> None:
    """Draw the common views of the results, per dataset, as PNG and SVG."""
    from annbench.analysis.concurrency import is_clients
    from annbench.analysis.streaming import is_runbook
    from annbench.errors.names import file_stem
    from annbench.views import plots

    if near_recall is not None and view not in ("difficulty", "streaming", "concurrency"):
        raise UserError(
            "--near-recall applies to --view difficulty, --view streaming and --view concurrency"
        )
    if near_recall is not None and not 0 < near_recall <= 1:
        raise UserError(f"--near-recall must lie in (0, 1], got {near_recall:g}")

    # per-query arrays only for the views that draw them (recall against alpha, difficulty)
    per_query = view in ("filtered", "difficulty")
    frame = load_results(obj, include_stale=include_stale, per_query=per_query)
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    frame = frame[frame["status"] == "ok"]
    if frame.empty:
        raise UserError(f"no successful results in {obj.results_dir}; run `annbench run` first")
    for column in (x, y):
        if column not in frame.columns:
            raise UserError(
                f"unknown metric {column!r}; try recall, recall_tolerant, qps, "
                "build_time_s, latency_p99_ms"
            )
    folder = out or obj.results_dir / "plots"
    written = []
    if view == "concurrency":
        return _echo_written(_plot_concurrency(obj, frame, folder, near_recall or 0.95))
    frame = frame[~is_clients(frame)]  # concurrent clients: their own view only
    if frame.empty:
        raise UserError(
            f"the results in {obj.results_dir} are all concurrent clients; use --view concurrency"
        )
    if view == "pareto":
        written = plots.plot_pareto(frame, folder, x=x, y=y)
    elif view == "filtered":
        from annbench.views.filtered_plots import plot_filtered

        for name, rows in frame[~is_runbook(frame)].groupby("dataset", sort=True):
            written += plot_filtered(rows, folder / f"{file_stem(name)}-filtered", name)
    elif view == "difficulty":
        written = _plot_difficulty(obj, frame, folder, near_recall or 0.95)
    elif view == "streaming":
        written = _plot_streaming(obj, frame[is_runbook(frame)], folder, near_recall or 0.9)
    else:
        static = frame[frame["workload"].fillna("static").eq("static")]
        for name, rows in static.groupby("dataset", sort=True):
            written += plots.plot_view(rows, view, folder / f"{file_stem(name)}-{view}", name)
    if not written:
        raise UserError(
            f"the results hold nothing for the {view!r} view (single mode for "
            "latency; several orders including random for order; filter workloads for "
            "filtered; per-query measures in the dataset files for difficulty, from "
            "`annbench datasets describe NAME --queries`; runbook results for streaming)"
        )
    _echo_written(written)


def _echo_written(written: list[Path]) -> None:
    for path in written:
        click.echo(f"wrote {path}")


def _plot_concurrency(obj: Context, frame, folder: Path, near_recall: float) -> list[Path]:
    """QPS and p99 latency against concurrent clients, per dataset."""
    from annbench.analysis.concurrency import is_clients
    from annbench.errors.names import file_stem
    from annbench.views.concurrency_plots import plot_concurrency

    rows = frame[is_clients(frame)]
    if rows.empty:
        raise UserError(f"no concurrent-clients results in {obj.results_dir}; {CLIENTS_HINT}")
    written = []
    for name, own in rows.groupby("dataset", sort=True):
        stem = folder / f"{file_stem(name)}-concurrency"
        written += plot_concurrency(own, stem, name, target=near_recall)
    return written


def _plot_difficulty(obj: Context, frame, folder: Path, near_recall: float) -> list[Path]:
    """Recall against LID and RC for every dataset whose file stores per-query measures."""
    from annbench.analysis.difficulty import usable_points
    from annbench.errors.names import file_stem
    from annbench.views.difficulty_plots import (
        dataset_facts,
        describe_hint,
        plot_recall_by_difficulty,
    )

    points = usable_points(frame)
    written, missing = [], []
    for name, facts in dataset_facts(points, obj.data_dir).items():
        if not facts.measures:
            missing.append(f"dataset {name} has no per-query measures; {describe_hint(name)}")
            continue
        rows = points[points["dataset"] == name]
        stem = folder / f"{file_stem(name)}-difficulty"
        written += plot_recall_by_difficulty(rows, facts.measures, stem, name, target=near_recall)
    if missing and not written:
        if len(missing) == 1:
            raise UserError(missing[0])
        raise UserError(
            f"none of the {len(missing)} datasets has per-query measures; run `annbench "
            "datasets describe NAME --queries` for each to add them"
        )
    for line in missing:
        note(f"skipped {line}")
    return written


def _plot_streaming(obj: Context, frame, folder: Path, near_recall: float) -> list[Path]:
    """Recall, QPS and insert throughput over the steps of every runbook, per dataset."""
    from annbench.errors.names import file_stem
    from annbench.views.streaming_plots import plot_streaming, step_records

    if frame.empty:
        raise UserError(f"no streaming runbook results in {obj.results_dir}; {RUNBOOK_HINT}")
    records = step_records(obj.results_dir, frame["run_id"].unique())
    written = []
    for name, rows in frame.groupby("dataset", sort=True):
        runs = records[records["run_id"].isin(set(rows["run_id"]))]
        stem = folder / f"{file_stem(name)}-streaming"
        written += plot_streaming(rows, stem, name, records=runs, target=near_recall)
    return written
