"""annbench experiment: the ready-made studies (insertion order, intrinsic dimension, filtered
search)."""

from __future__ import annotations

import click

from annbench.cli.base import Context, cli, int_list, pass_context
from annbench.errors import UserError
from annbench.errors.files import write_text

executor_option = click.option(
    "--executor", type=click.Choice(["process", "inline"]), default="process", show_default=True
)


@cli.group()
def experiment() -> None:
    """Ready-made studies: insertion order and intrinsic dimension (Elliott & Clark 2024)."""


@experiment.command("order")
@click.argument("dataset")
@click.option(
    "--seeds",
    type=int,
    default=3,
    show_default=True,
    help="Seeds per order (2 or more: a confidence interval needs them).",
)
@click.option("--orders", help="Comma-separated orders (default: every applicable one).")
@click.option("--ef", "ef_search", default="10,40", show_default=True, help="ef values.")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True)
@executor_option
@pass_context
def experiment_order(
    obj: Context,
    dataset: str,
    seeds: int,
    orders: str | None,
    ef_search: str,
    k: int,
    executor: str,
) -> None:
    """Recall of hnswlib and faiss-hnsw (M=16, efConstruction=128) per insertion order."""
    from annbench.analysis.compare import order_effect
    from annbench.studies.common import run_study, study_path
    from annbench.studies.order import order_experiment
    from annbench.views.plots import plot_order_effect

    if seeds < 2:
        raise UserError("--seeds must be at least 2 for a confidence interval")
    chosen = [o.strip() for o in orders.split(",")] if orders else None
    study = order_experiment(
        dataset, obj.data_dir, seeds=seeds, orders=chosen, k=k, ef_search=int_list(ef_search)
    )
    frame = run_study(study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo)
    table = order_effect(frame)
    if table.empty:
        raise UserError("every run of the study failed; see `annbench results`")
    stem = study_path(obj.results_dir, f"order-{table['dataset'].iloc[0]}")
    write_text(stem.with_suffix(".csv"), table.to_csv(index=False))
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    click.echo(
        "gap_pp: recall minus random's, in percentage points; beyond_ci: the gap exceeds "
        "the order's 95% CI half-width; p_welch: Welch's t-test against random"
    )
    for path in [stem.with_suffix(".csv"), *plot_order_effect(table, stem)]:
        click.echo(f"wrote {path}")


@experiment.command("intrinsic-dim")
@click.option(
    "--dims", default="2,4,8,16,32,64", show_default=True, help="Target intrinsic dimensions."
)
@click.option(
    "--generator",
    type=click.Choice(["subspace", "manifold"]),
    default="subspace",
    show_default=True,
)
@click.option(
    "--ambient", type=click.IntRange(min=1), default=128, show_default=True, help="Ambient D."
)
@click.option("--n", type=click.IntRange(min=2), default=20_000, show_default=True)
@click.option("--n-queries", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--noise", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--ef", "ef_search", default="10,40", show_default=True, help="ef values.")
@executor_option
@pass_context
def experiment_intrinsic_dim(
    obj: Context,
    dims: str,
    generator: str,
    ambient: int,
    n: int,
    n_queries: int,
    noise: float,
    seed: int,
    ef_search: str,
    executor: str,
) -> None:
    """Recall at fixed HNSW parameters as the data's intrinsic dimension rises."""
    from annbench.run.plan import Experiment
    from annbench.studies.common import hnsw_adapters, run_study, study_path
    from annbench.studies.intrinsic_dim import dimension_datasets, dimension_table
    from annbench.views.plots import plot_recall_vs_dimension

    targets = int_list(dims)
    names = dimension_datasets(
        targets,
        obj.data_dir,
        generator=generator,
        ambient=ambient,
        n=n,
        n_queries=n_queries,
        noise=noise,
        seed=seed,
        echo=click.echo,
    )
    study = Experiment(
        datasets=names,
        adapters=hnsw_adapters(ef_search=int_list(ef_search)),
        k=10,
        repeats=1,
        warmup=0,
    )
    frame = run_study(study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo)
    table = dimension_table(frame, obj.data_dir)
    stem = study_path(obj.results_dir, f"intrinsic-dim-{generator}-D{ambient}-n{n}")
    write_text(stem.with_suffix(".csv"), table.to_csv(index=False))
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for path in [stem.with_suffix(".csv"), *plot_recall_vs_dimension(table, stem)]:
        click.echo(f"wrote {path}")


@experiment.command("filtered")
@click.argument("dataset")
@click.option(
    "--kind", type=click.Choice(["range", "label", "tags"]), default="range", show_default=True
)
@click.option(
    "--selectivities",
    default="0.5,0.1,0.01",
    show_default=True,
    help="Target fractions passing ('any' for labels: every label).",
)
@click.option("--correlations", default="positive,none,negative", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@executor_option
@pass_context
def experiment_filtered(
    obj: Context,
    dataset: str,
    kind: str,
    selectivities: str,
    correlations: str,
    seed: int,
    executor: str,
) -> None:
    """Filtered search across selectivity x correlation: hnswlib, faiss-hnsw, faiss-ivf and
    pgvector through their own filters, and post-filtered hnswlib; recall and QPS per cell,
    QPS at recall 0.9 where reachable, and the filtered views."""
    from annbench.analysis.filtered import cell_table
    from annbench.cli.base import choice_list, selectivity_list, warn
    from annbench.datasets.filters import CORRELATIONS
    from annbench.studies.common import run_study, study_path
    from annbench.studies.filtered import REFERENCE, filtered_experiment
    from annbench.views.filtered_plots import plot_filtered

    study = filtered_experiment(
        dataset,
        obj.data_dir,
        kind=kind,
        selectivities=selectivity_list(selectivities),
        correlations=choice_list(correlations, CORRELATIONS, "correlation"),
        seed=seed,
        warn=warn,
    )
    frame = run_study(
        study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo, per_query=True
    )
    table = cell_table(frame, REFERENCE)
    if table.empty:
        raise UserError("every run of the study failed or was skipped; see `annbench results`")
    stem = study_path(obj.results_dir, f"filtered-{dataset}-{kind}")
    write_text(stem.with_suffix(".csv"), table.to_csv(index=False))
    shown = table.drop(columns=["dataset", "filter"])
    click.echo(
        shown.to_string(
            index=False, float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
        )
    )
    for path in [stem.with_suffix(".csv"), *plot_filtered(frame, stem, dataset, table=table)]:
        click.echo(f"wrote {path}")
