"""annbench run: measuring (the views of what was measured are in cli/views.py)."""

from __future__ import annotations

from pathlib import Path

import click

from annbench.cli.base import (
    Context,
    cli,
    pass_context,
    positive_number,
    warn,
)
from annbench.errors import UserError

LARGE_PLAN = 500  # jobs; a larger plan runs only when confirmed

RESULT_COLUMNS = [
    "dataset",
    "workload",
    "label",
    "query_params",
    "mode",
    "search_threads",
    "recall",
    "qps",
    "qps_range",
    "!",
    "latency_p99_ms",
    "build_time_s",
    "status",
]


@cli.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option(
    "--executor",
    type=click.Choice(["process", "inline", "docker", "dask"]),
    default="process",
    show_default=True,
    help="Where each job runs.",
)
@click.option(
    "--scheduler",
    help="dask: scheduler address (tcp://HOST:PORT); default: a local cluster.",
)
@click.option(
    "--data-url",
    help="dask: workers fetch each dataset from DATA_URL/NAME.hdf5 (once per machine, into "
    "ANNBENCH_DATA_CACHE) instead of reading the planning path.",
)
@click.option("--force", is_flag=True, help="Rerun jobs whose results are already stored.")
@click.option("--timeout", type=float, help="Seconds per job (overrides the spec).")
@click.option(
    "--cpus",
    type=float,
    callback=positive_number("CPUs"),
    help="docker: CPU quota per container (e.g. 1.5).",
)
@click.option("--cpuset", help="docker: CPUs a container may use (e.g. 0-3).")
@click.option("--memory", help="docker: memory limit per container (e.g. 4g).")
@click.option(
    "--parallel",
    type=int,
    default=1,
    show_default=True,
    help="docker: containers at once, each on its own disjoint CPU set.",
)
@click.option(
    "--profile",
    type=click.Choice(["vendor-defaults"]),
    help="vendor-defaults: each database at the defaults it ships (instead of SPEC).",
)
@click.option("--dataset", "datasets", multiple=True, help="Run on this dataset instead.")
@click.option(
    "--suite",
    type=click.Choice(["smoke", "all"]),
    help="smoke: every registered adapter on a tiny dataset; all: every adapter that can run "
    "here at its default grids on the default dataset (or --dataset), instead of SPEC.",
)
@click.option(
    "--yes",
    is_flag=True,
    help=f"Run a plan of more than {LARGE_PLAN} jobs without asking.",
)
@pass_context
def run(
    obj: Context,
    spec: Path | None,
    executor: str,
    force: bool,
    timeout: float | None,
    cpus: float | None,
    cpuset: str | None,
    memory: str | None,
    parallel: int,
    suite: str | None,
    scheduler: str | None,
    data_url: str | None,
    profile: str | None,
    datasets: tuple[str, ...],
    yes: bool,
) -> None:
    """Run the experiment in SPEC (default: the built-in blobs-100k-64 experiment).

    Exit status: 0 when every job succeeded, 1 when a job failed (the sweep still runs every
    job; failures are stored with their reason), 2 on bad input."""
    from dataclasses import replace

    from annbench.run.plan import check_timeout, default_experiment_path, expand, read_experiment
    from annbench.run.runner import check_writable, run_sweep

    if executor == "docker":
        from annbench.run.executors.images import client

        client()  # one clear line now if no engine answers, before any dataset work
    elif cpus or cpuset or memory:
        raise UserError("--cpus, --cpuset and --memory apply to --executor docker")
    if sum(bool(x) for x in (spec, suite, profile)) > 1:
        raise UserError("give one of SPEC, --suite and --profile")
    if parallel < 1:
        raise UserError(f"--parallel must be 1 or more, got {parallel}")
    if timeout is not None:
        timeout = check_timeout(timeout)
    if suite == "smoke":
        from annbench.run.plan import smoke_experiment

        experiment = smoke_experiment()
    elif suite == "all":
        from annbench.run.plan import all_experiment, parse_datasets

        names = parse_datasets(list(datasets), "--dataset", warn) if datasets else None
        experiment = all_experiment(obj.data_dir, names)
    elif profile:
        from annbench.run.plan import profile_path

        experiment = read_experiment(profile_path(profile), warn=warn)
    else:
        experiment = read_experiment(spec or default_experiment_path(), warn=warn)
    if datasets:
        from annbench.run.plan import parse_datasets

        experiment = replace(experiment, datasets=parse_datasets(list(datasets), "--dataset", warn))
    if timeout is not None:
        experiment = replace(experiment, timeout=timeout)
    check_writable(obj.results_dir)
    from annbench.adapters.registry import discover

    _confirm_large_plan(experiment, discover(), obj.results_dir, yes)
    # the libraries live in the images (docker) or on the cluster's machines (a scheduler)
    here = executor != "docker" and not (executor == "dask" and scheduler)
    jobs = expand(experiment, obj.data_dir, warn=warn, check_available=here)
    if executor == "docker":
        from annbench.run.executors.images import adapter_image

        engine = client()
        for adapter in sorted({job.adapter for job in jobs}):
            adapter_image(engine, adapter)  # every image present before the first job starts
    click.echo(f"{len(jobs)} jobs, results in {obj.results_dir}")
    if (scheduler or data_url) and executor != "dask":
        raise UserError("--scheduler and --data-url apply to --executor dask")
    options = {"cpus": cpus, "cpuset": cpuset, "memory": memory} if executor == "docker" else {}
    if executor == "dask":
        options = {"scheduler": scheduler, "data_url": data_url}
    outcomes = run_sweep(
        jobs,
        obj.results_dir,
        executor=executor,
        force=force,
        echo=click.echo,
        options=options,
        parallel=parallel,
    )
    from annbench.store.frame import load_frame

    frame = load_frame(obj.results_dir, include_stale=True)
    run_ids = {outcome.job.run_id for outcome in outcomes}
    ran = frame[frame["run_id"].isin(run_ids)]
    click.echo(result_text(ran))
    failed = sum(outcome.status == "failed" for outcome in outcomes)
    _warn_about(ran, failed, len(jobs))
    if failed:
        raise click.exceptions.Exit(1)


def _confirm_large_plan(experiment, registry, results_dir: Path, yes: bool) -> None:
    """A plan of more than LARGE_PLAN jobs runs only when confirmed (--yes, or an answer at
    a terminal); without a terminal its size and an estimate are printed and it stops."""
    import sys

    from annbench.run.runner import plan_size

    jobs, points = plan_size(experiment, registry)
    if jobs <= LARGE_PLAN or yes:
        return
    hours = jobs * experiment.timeout / 3600
    summary = (
        f"the plan holds {jobs:,} jobs ({points:,} query-sweep points); at the "
        f"{experiment.timeout:g} s timeout it could take up to {hours:,.1f} h"
    )
    if sys.stdin is not None and sys.stdin.isatty():
        if click.confirm(f"{summary}. Run it?", default=False):
            return
        raise UserError("not run; shrink the grids or pass --yes")
    raise UserError(f"{summary}; more than {LARGE_PLAN} jobs need --yes")


def _warn_about(frame, failed: int, n_jobs: int) -> None:
    if failed:
        click.echo(
            f"{failed} of {n_jobs} jobs failed; see the status and error columns "
            "of `annbench results`",
            err=True,
        )
    unstable = int(frame["unstable"].eq(True).sum())
    if unstable:
        click.echo(
            f"{unstable} points vary by more than 10% between repeats (marked !); raise "
            "`repeats` or measure on a quieter machine",
            err=True,
        )


def result_text(frame) -> str:
    """The summary table; concurrent-clients points in a table of their own below it."""
    from annbench.analysis.concurrency import is_clients
    from annbench.views.concurrency_plots import clients_text

    clients = is_clients(frame)
    if not clients.any():
        return result_table(frame)
    if clients.all():
        return clients_text(frame)
    return f"{result_table(frame[~clients])}\n\n{clients_text(frame)}"


def result_table(frame) -> str:
    """The summary view: one line per query-sweep point, unstable timings marked with !."""
    if frame.empty:
        return "no results"
    shown = frame.copy()
    shown["qps_range"] = [qps_range(row) for _, row in shown.iterrows()]
    shown["!"] = ["!" if flag is True else "" for flag in shown["unstable"]]
    columns = [c for c in RESULT_COLUMNS if c in shown.columns]
    if shown["workload"].fillna("static").eq("static").all():
        columns.remove("workload")  # a static sweep needs no workload column
    if "step" in shown.columns and shown["step"].notna().any():  # a runbook's search steps
        at = columns.index("query_params")
        columns[at:at] = ["step", "active"]
        shown["step"] = shown["step"].astype("Int64")
        shown["active"] = shown["active"].astype("Int64")
    if "search_threads" in shown.columns:  # whole numbers, "-" for the library's default
        shown["search_threads"] = [
            "-" if pd_isna(t) else str(int(t)) for t in shown["search_threads"]
        ]
    if (shown["status"] != "ok").any():
        columns.append("error")
    return shown[columns].to_string(
        index=False, na_rep="-", float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    )


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def qps_range(row) -> str:
    """The spread a QPS figure has: its 95% interval where enough passes stand behind one,
    else the slowest and fastest pass (the words say which)."""
    if not pd_isna(row["qps_ci_low"]):
        return f"{row['qps_ci_low']:,.0f}-{row['qps_ci_high']:,.0f} 95% CI"
    if pd_isna(row["qps_min"]) or row.get("repeats", 1) < 2:
        return ""
    return f"{row['qps_min']:,.0f}-{row['qps_max']:,.0f} min-max"
