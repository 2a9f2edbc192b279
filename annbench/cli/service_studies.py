"""annbench experiment streaming and concurrency: studies of an index in service, as points
arrive and leave and as clients query it at once."""

from __future__ import annotations

import click

from annbench.cli.base import Context, pass_context, positive_number
from annbench.cli.studies import executor_option, experiment
from annbench.errors import UserError
from annbench.errors.files import write_text


@experiment.command("streaming")
@click.argument("dataset")
@click.option(
    "--adapters",
    default="hnswlib,usearch,faiss-ivf,pgvector",
    show_default=True,
    help="Comma-separated methods (of these four).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@executor_option
@pass_context
def experiment_streaming(
    obj: Context, dataset: str, adapters: str, seed: int, executor: str
) -> None:
    """Streaming: hnswlib, usearch, faiss-ivf and pgvector on a sliding-window runbook and a
    clustered-arrival runbook over the same points and window (10 steps, 4 active); the mean
    recall over the search steps per method and runbook, and recall over the steps."""
    from annbench.cli.base import choice_list
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import dataset_info, load_dataset
    from annbench.studies.common import run_study, study_path
    from annbench.studies.streaming import (
        REFERENCE,
        history_table,
        score_table,
        streaming_experiment,
    )
    from annbench.views.streaming_plots import plot_streaming, step_records

    path = resolve_dataset(dataset, obj.data_dir)
    info = dataset_info(path)
    if not info["has_labels"]:
        raise UserError(f"dataset {dataset!r} has no labels; clustered arrival needs them")
    labels = load_dataset(path, workloads="").labels
    chosen = choice_list(adapters, tuple(REFERENCE), "adapter")
    study = streaming_experiment(dataset, info["n_base"], labels, seed, adapters=chosen)
    frame = run_study(study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo)
    table = score_table(frame)
    if table.empty:
        raise UserError("every run of the study failed or was skipped; see `annbench results`")
    stem = study_path(obj.results_dir, f"streaming-{info['name']}")
    write_text(stem.with_suffix(".csv"), table.to_csv(index=False))
    streamed = table[~table["runbook"].str.endswith("-rebuilt")]
    wide = streamed.pivot_table(
        index=["adapter", "query_params"], columns="runbook", values="score"
    ).reset_index()
    click.echo("Mean recall over the search steps (big-ann-benchmarks' score):")
    click.echo(wide.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    history = history_table(table)
    click.echo(
        "\nThe last search step against the same active set built at once in random order "
        "(history_pp: streamed minus rebuilt, in points):"
    )
    click.echo(history.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    history_path = stem.with_name(f"{stem.name}-history.csv")
    write_text(history_path, history.to_csv(index=False))
    written = [stem.with_suffix(".csv"), history_path]
    records = step_records(obj.results_dir, frame["run_id"].unique())
    written += plot_streaming(frame, stem, info["name"], records=records)
    for path_written in written:
        click.echo(f"wrote {path_written}")


@experiment.command("concurrency")
@click.argument("dataset")
@click.option(
    "--adapters",
    default="hnswlib,faiss-hnsw,pgvector",
    show_default=True,
    help="Comma-separated methods (of these three).",
)
@click.option(
    "--duration",
    type=float,
    callback=positive_number("seconds"),
    default=10.0,
    show_default=True,
    help="Seconds per client level.",
)
@click.option(
    "--p99-bound-ms",
    type=float,
    callback=positive_number("milliseconds"),
    default=20.0,
    show_default=True,
    help="The latency bound of the 'QPS at p99 <= X ms' table.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@executor_option
@pass_context
def experiment_concurrency(
    obj: Context, dataset: str, adapters: str, duration: float, p99_bound_ms: float, seed: int,
    executor: str,
) -> None:  # fmt: skip
    """Concurrent clients: hnswlib, faiss-hnsw and pgvector at their query configuration
    nearest recall 0.95, at 1, 2 and 4 clients (more where the machine has the cores), beside
    the harness's own no-op ceiling; QPS and p99 per level, QPS at a p99 bound, and plots."""
    from annbench.analysis.concurrency import chosen_levels, qps_at_p99
    from annbench.cli.base import choice_list
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import dataset_info
    from annbench.studies.common import run_study, study_path
    from annbench.studies.concurrency import (
        METHODS,
        TARGET_RECALL,
        chosen_configurations,
        client_levels,
        clients_experiment,
        selection_experiment,
    )
    from annbench.views.concurrency_plots import plot_concurrency

    info = dataset_info(resolve_dataset(dataset, obj.data_dir))
    chosen = choice_list(adapters, METHODS, "adapter")
    click.echo(f"choosing each method's configuration nearest recall {TARGET_RECALL}:")
    selection = run_study(
        selection_experiment(dataset, chosen, seed), obj.data_dir, obj.results_dir,
        executor=executor, echo=click.echo,
    )  # fmt: skip
    configurations = chosen_configurations(selection)
    if not configurations:
        raise UserError("every selection run failed or was skipped; see `annbench results`")
    levels = client_levels()
    click.echo(f"measuring clients {levels}, {duration:g} s per level:")
    study = clients_experiment(dataset, configurations, levels, duration, seed)
    frame = run_study(study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo)
    table = chosen_levels(frame)
    if table.empty:
        raise UserError("every clients run failed; see `annbench results`")
    stem = study_path(obj.results_dir, f"concurrency-{info['name']}")
    columns = ["adapter", "query_params", "recall", "clients", "qps", "latency_p50_ms",
               "latency_p99_ms", "ceiling_qps", "harness_bound"]  # fmt: skip
    shown = table[columns]
    click.echo(_figures(shown).to_string(index=False))
    bound = qps_at_p99(frame, p99_bound_ms)
    click.echo(f"\nQPS at p99 <= {p99_bound_ms:g} ms (any level):")
    click.echo(_figures(bound.drop(columns=["dataset"])).to_string(index=False))
    written = [stem.with_suffix(".csv"), stem.with_name(f"{stem.name}-p99-bound.csv")]
    write_text(written[0], shown.to_csv(index=False))
    write_text(written[1], bound.to_csv(index=False))
    written += plot_concurrency(frame, stem, info["name"])
    for path_written in written:
        click.echo(f"wrote {path_written}")


def _figures(table):
    """QPS as whole numbers, latencies to three significant figures, recall to three places."""
    shown = table.copy()
    formats = {"qps": "{:,.0f}", "ceiling_qps": "{:,.0f}", "recall": "{:.3f}"}
    formats.update({c: "{:.3g}" for c in shown.columns if c.startswith("latency_")})
    for column, text in formats.items():
        if column in shown.columns:
            shown[column] = [text.format(v) if v == v else "-" for v in shown[column]]
    return shown
