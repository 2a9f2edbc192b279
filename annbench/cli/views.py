"""annbench results, report and env: looking at what was measured (plot: cli/plots.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annbench.cli.base import (
    Context,
    cli,
    echo_json,
    include_stale_option,
    json_option,
    load_results,
    note,
    pass_context,
    positive_number,
)
from annbench.cli.runs import pd_isna, result_text
from annbench.errors import UserError
from annbench.errors.files import write_text


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output (required for parquet).",
)
@click.option("--dataset", help="Only this dataset.")
@click.option("--spread", is_flag=True, help="Summarise recall and QPS across build seeds.")
@click.option("--all-columns", is_flag=True, help="Every column, not just the summary.")
@click.option(
    "--by-difficulty",
    is_flag=True,
    help="Recall per query-difficulty bin, easiest to hardest, for every point.",
)
@click.option(
    "--measure",
    help="by-difficulty: the per-query measure: lid, rc, expansion (their default k) or a "
    "stored name such as lid_10, rc_1, mahalanobis.  [default: lid]",
)
@click.option(
    "--bins",
    type=int,
    help="by-difficulty: equal-size bins of queries.  [default: 5]",
)
@click.option(
    "--scores",
    is_flag=True,
    help="Streaming runbooks: one line per configuration with its score (mean recall over "
    "the runbook's search steps), its worst step, mean QPS and the number of steps.",
)
@click.option(
    "--quality",
    is_flag=True,
    help="Judged tasks: nDCG@10, RR@10 and Recall@100 against the relevance judgements for "
    "every point, beside recall, with exact search's figures as the reference.",
)
@include_stale_option
@pass_context
def results(
    obj: Context,
    fmt: str,
    out: Path | None,
    dataset: str | None,
    spread: bool,
    all_columns: bool,
    by_difficulty: bool,
    measure: str | None,
    bins: int | None,
    scores: bool,
    quality: bool,
    include_stale: bool,
) -> None:
    """The tidy results table: one row per query-sweep point (or per configuration with
    --spread), with recall, QPS statistics, latency, memory and build figures.

    With --by-difficulty: recall in each bin of queries ordered by a per-query difficulty
    measure (the table: one column per bin; csv/json/parquet: one row per point and bin).
    With --scores: the streaming runbook scores, one row per configuration."""
    from annbench.analysis.compare import seed_spread
    from annbench.cli.quality import quality_results

    if not by_difficulty and (measure is not None or bins is not None):
        raise UserError("--measure and --bins apply to --by-difficulty")
    if by_difficulty and (spread or all_columns):
        raise UserError(
            "--by-difficulty shows recall per bin; leave out --spread and --all-columns"
        )
    if scores and (by_difficulty or spread or all_columns):
        raise UserError(
            "--scores shows one line per runbook configuration; leave out --by-difficulty, "
            "--spread and --all-columns"
        )
    if quality and (by_difficulty or scores or spread):
        raise UserError(
            "--quality shows the judged-task measures; leave out --by-difficulty, "
            "--scores and --spread"
        )
    if quality:
        frame, text = quality_results(obj, dataset, include_stale)
        _emit(frame, text, fmt, out)
        return
    if by_difficulty:
        measure, bins = _difficulty_options(measure, bins)
    frame = load_results(obj, include_stale=include_stale, per_query=by_difficulty)
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    if frame.empty:
        raise UserError(f"no results in {obj.results_dir}; run `annbench run` first")
    frame = frame.sort_values(["dataset", "adapter", "label", "recall"]).reset_index(drop=True)
    text = None
    if by_difficulty:
        frame, text = _by_difficulty(obj, frame, measure, bins)
    if scores:
        frame, text = _scores(obj, frame)
    if spread:
        frame = seed_spread(frame)
    if text is None and fmt == "table":
        text = frame.to_string(index=False) if spread or all_columns else result_text(frame)
    _emit(frame, text, fmt, out)


def _emit(frame, text: str | None, fmt: str, out: Path | None) -> None:
    """Write the table as asked: parquet, csv or json from the frame, else ``text``."""
    from annbench.errors.files import atomic_path

    if fmt == "parquet":
        if out is None:
            raise UserError("parquet is a binary format; give --out FILE.parquet")
        with atomic_path(out) as tmp:
            frame.to_parquet(tmp, index=False)
        click.echo(f"wrote {out}")
        return
    if fmt == "csv":
        text = frame.to_csv(index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", indent=2)
    if out is None:
        click.echo(text)
    else:
        write_text(out, text)
        click.echo(f"wrote {out}")


def _difficulty_options(measure: str | None, bins: int | None) -> tuple[str, int]:
    """The stored measure name and the bin count, refused in one line when unknown."""
    from annbench.analysis.difficulty import DEFAULT_BINS
    from annbench.intrinsic.difficulty import measure_name
    from annbench.views.difficulty_plots import known_measure, measure_choices

    name = measure_name(measure or "lid")
    if not known_measure(name):
        raise UserError(f"unknown query measure {measure!r}; choose one of: {measure_choices()}")
    bins = DEFAULT_BINS if bins is None else bins
    if bins < 2:
        raise UserError(f"--bins must be 2 or more, got {bins}")
    return name, bins


def _by_difficulty(obj: Context, frame, measure: str, bins: int):
    """(the tidy table of recall per point and bin, the text table): datasets without the
    measure are skipped with a note, or refused when none has it."""
    from annbench.analysis.concurrency import is_clients
    from annbench.analysis.difficulty import recall_by_difficulty, usable_points
    from annbench.views.difficulty_plots import (
        dataset_binnings,
        dataset_facts,
        describe_hint,
        difficulty_text,
    )

    points = usable_points(frame[~is_clients(frame)])  # the static sweep's points
    if points.empty:
        raise UserError(f"no successful static-workload results in {obj.results_dir} to bin")
    facts = dataset_facts(points, obj.data_dir)
    binnings = dataset_binnings({n: f.measures for n, f in facts.items()}, measure, bins)
    missing = [name for name in facts if name not in binnings]
    for name in missing:
        if facts[name].path is None:
            reason = "its file was not found (give --data-dir)"
        elif facts[name].measures:
            stored = ", ".join(sorted(facts[name].measures))
            reason = f"its ground truth is too shallow for it; choose from {stored}"
        else:
            reason = describe_hint(name)
        message = f"dataset {name} has no per-query {measure}; {reason}"
        if not binnings:
            raise UserError(message)
        note(f"skipped {message}")
    table = recall_by_difficulty(points, binnings)
    return table, difficulty_text(table, binnings)


SCORE_COLUMNS = {
    "dataset": "dataset",
    "runbook": "runbook",
    "adapter": "adapter",
    "build_params": "build",
    "query_params": "query",
    "mode": "mode",
    "search_threads": "threads",
    "score": "score",
    "recall_min": "worst step",
    "qps": "mean QPS",
    "steps": "steps",
}
RUNBOOK_HINT = (
    "add `runbooks: [{generator: sliding-window, steps: 10, window: 4}]` to an experiment "
    "spec and `annbench run SPEC`"
)


def _scores(obj: Context, frame):
    """(the runbook score table, its text): refused in one line without runbook results."""
    from annbench.analysis.streaming import ingestion_table, runbook_scores

    table = runbook_scores(frame)
    if table.empty:
        raise UserError(f"no streaming runbook results in {obj.results_dir}; {RUNBOOK_HINT}")
    table = table[list(SCORE_COLUMNS)]
    shown = table.rename(columns=SCORE_COLUMNS)
    shown["threads"] = ["-" if pd_isna(t) else str(int(t)) for t in shown["threads"]]
    figures = lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"  # noqa: E731
    text = shown.to_string(index=False, na_rep="-", float_format=figures)
    ingestion = ingestion_table(frame)
    if not ingestion.empty:
        text += (
            "\n\nsearch steps measured while ingesting, beside the same clients without it:\n"
            + ingestion.to_string(index=False, na_rep="-", float_format=figures)
        )
    return table, text


@cli.command()
@json_option
def env(as_json: bool) -> None:
    """The environment manifest recorded with every result: CPU, memory, OS, packages, BLAS."""
    import faiss  # noqa: F401  (loaded so that its OpenMP and BLAS show up)
    import numpy  # noqa: F401

    from annbench.store.manifest import environment

    manifest = environment()
    if as_json:
        echo_json(manifest)
        return
    for key, value in manifest.items():
        if key == "cpu_flags":
            value = f"{len(value)} flags, SIMD: " + " ".join(
                f for f in value if f.startswith(("sse4", "avx", "fma", "neon", "sve"))
            )
        elif isinstance(value, (dict, list)):
            value = json.dumps(value)
        click.echo(f"{key:>16}: {value}")


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: RESULTS_DIR/report).",
)
@click.option(
    "--p99-bound-ms",
    type=float,
    callback=positive_number("milliseconds"),
    help="Concurrent clients: the ranking's column of each adapter's highest QPS whose p99 "
    "latency is at most this many milliseconds.  [default: 20]",
)
@include_stale_option
@pass_context
def report(obj: Context, out: Path | None, p99_bound_ms: float | None, include_stale: bool) -> None:
    """Write the static HTML report (opens from file://, no network needed)."""
    from annbench.analysis.concurrency import DEFAULT_P99_BOUND_MS
    from annbench.views.report.builder import build_report

    if p99_bound_ms is None:
        p99_bound_ms = DEFAULT_P99_BOUND_MS
    frame = load_results(obj, include_stale=include_stale, per_query=True)
    index = build_report(
        obj.results_dir,
        out or obj.results_dir / "report",
        frame=frame,
        data_dir=obj.data_dir,
        p99_bound_ms=p99_bound_ms,
    )
    click.echo(f"report: {index.resolve()}")
