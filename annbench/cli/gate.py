"""annbench baseline and check: the regression gate."""

from __future__ import annotations

from pathlib import Path

import click

from annbench.cli.base import Context, cli, fraction, note, pass_context
from annbench.errors import UserError
from annbench.errors.files import write_text


@cli.group()
def baseline() -> None:
    """Baselines for `annbench check`."""


def _results_option(help_text: str):
    """--results: the results folder to read (default: --results-dir)."""
    return click.option(
        "--results",
        "results_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help=help_text,
    )


def _results_document(obj: Context, results_dir: Path, exclude: tuple[str, ...] = ()) -> dict:
    """The baseline document of the fresh results in ``results_dir`` (stale ones left out)."""
    from annbench.analysis.gate import summarise
    from annbench.store.frame import load_frame
    from annbench.store.results import read_environment

    frame = load_frame(results_dir, data_dir=obj.data_dir)
    for line in frame.attrs.get("notes", []):
        note(line)
    if frame.empty:
        raise UserError(f"no results in {results_dir}; run `annbench run` first")
    unknown = sorted(set(exclude) - set(frame["adapter"]))
    if unknown:
        raise UserError(
            f"--exclude {', '.join(unknown)}: not in the results in {results_dir} (adapters "
            f"there: {', '.join(sorted(set(frame['adapter'])))})"
        )
    first = result_path_of(frame.iloc[0], results_dir)
    return summarise(frame[~frame["adapter"].isin(exclude)], read_environment(first))


def result_path_of(row, results_dir: Path) -> Path:
    return Path(results_dir) / row["dataset"] / row["adapter"] / f"{row['run_id']}.h5"


@baseline.command("save")
@_results_option("Results to summarise (default: --results-dir).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--exclude",
    multiple=True,
    metavar="ADAPTER",
    help="Leave an adapter out (repeatable), e.g. one whose recall is not repeatable; "
    "`check` then ignores its points.",
)
@pass_context
def baseline_save(
    obj: Context, results_dir: Path | None, out: Path, exclude: tuple[str, ...]
) -> None:
    """Summarise a run (recall, QPS with its interval and frontiers per adapter, environment)."""
    from annbench.store.baselines import save_baseline

    document = _results_document(obj, results_dir or obj.results_dir, exclude)
    click.echo(f"wrote {save_baseline(document, out)} ({len(document['points'])} points)")


@cli.command()
@click.option(
    "--baseline", "baseline_file", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@_results_option("Current results (default: --results-dir).")
@click.option(
    "--max-recall-drop",
    default="0.01",
    show_default=True,
    help="Recall may fall this much (absolute) before it is a regression.",
)
@click.option(
    "--max-qps-drop",
    default="10%",
    show_default=True,
    help="QPS at matched recall may fall this much, when intervals do not overlap.",
)
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JUnit XML here.",
)
@click.option(
    "--allow-missing",
    multiple=True,
    metavar="ADAPTER",
    help="Let this adapter's baseline entries be absent from the current results (repeatable); "
    "without it an absent baseline point or adapter fails the check.",
)
@pass_context
def check(
    obj: Context,
    baseline_file: Path,
    results_dir: Path | None,
    max_recall_drop: str,
    max_qps_drop: str,
    markdown_file: Path | None,
    junit_file: Path | None,
    allow_missing: tuple[str, ...],
) -> None:
    """Compare results with a baseline: exit 0 within bounds, 1 on a regression (a baseline
    point or adapter missing now included), 2 on bad input or an output it cannot write."""
    from annbench.analysis import gate
    from annbench.store.baselines import load_baseline

    recall_drop, qps_drop = fraction(max_recall_drop), fraction(max_qps_drop)
    stored = load_baseline(baseline_file)
    known = {point["key"]["adapter"] for point in stored["points"]}
    unknown = sorted(set(allow_missing) - known)
    if unknown:
        raise UserError(
            f"--allow-missing {', '.join(unknown)}: not in the baseline {baseline_file} "
            f"(its adapters: {', '.join(sorted(known))})"
        )
    current = _results_document(obj, results_dir or obj.results_dir)
    findings = gate.compare(
        stored,
        current,
        max_recall_drop=recall_drop,
        max_qps_drop=qps_drop,
        allow_missing=set(allow_missing),
    )
    warnings = [
        f"environment differs: {line}" for line in gate.environment_differences(stored, current)
    ]
    regressions = [f for f in findings if f.regression]
    for finding in regressions:
        label = "MISSING" if finding.kind == "missing" else "REGRESSION"
        where = f"{finding.dataset} {finding.adapter}"
        click.echo(f"{label} {finding.kind:<6} {where}: {finding.detail}")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if markdown_file:
        write_text(markdown_file, gate.markdown(findings, warnings))
    if junit_file:
        write_text(junit_file, gate.junit(findings))
    click.echo(
        f"{gate.summary_line(findings)} (recall drop > {recall_drop:g}, QPS drop > "
        f"{qps_drop:.0%} with intervals apart)"
    )
    if regressions:
        raise click.exceptions.Exit(1)
