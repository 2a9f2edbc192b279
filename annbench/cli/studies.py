"""annbench experiment: the ready-made studies of a built index (insertion order, intrinsic
dimension, filtered search, query difficulty); an index in service (streaming, concurrency):
cli/service_studies.py."""

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
    """Ready-made studies: insertion order, intrinsic dimension, filtered search and query
    difficulty."""


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
        "ci95: half-width of the order's own 95% CI over seeds; gap_pp: recall minus random's, "
        "in percentage points; gap_ci_low_pp..gap_ci_high_pp: the 95% CI of that difference "
        "(Welch); p_welch: Welch's t-test against random; significant: p_welch < 0.05, i.e. "
        "the difference's CI excludes 0 (NaN/False: too few seeds or no spread to test)"
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


@experiment.command("difficulty")
@click.argument("dataset")
@click.option(
    "--n-set",
    type=click.IntRange(min=1),
    help="Queries in the easy and the hard set [default: a fifth of the dataset's].",
)
@click.option(
    "--ood-kind",
    type=click.Choice(["noise", "tilt", "clusters", "words", "examples"]),
    help="Out-of-distribution queries [default: words for wordnet-minilm, noise otherwise].",
)
@click.option("--shift", type=float, default=1.0, show_default=True, help="Size of the OOD shift.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@executor_option
@pass_context
def experiment_difficulty(
    obj: Context,
    dataset: str,
    n_set: int | None,
    ood_kind: str | None,
    shift: float,
    seed: int,
    executor: str,
) -> None:
    """Query difficulty: hnswlib and faiss-ivf on all queries, the easy and hard sets (by
    LID_100) and an out-of-distribution set; recall per LID and RC quintile, per set, and QPS
    at recall 0.9 in and out of distribution."""
    from annbench.datasets.catalog import dataset_path
    from annbench.datasets.store import dataset_info, load_query_measures
    from annbench.studies.common import run_study, study_path
    from annbench.studies.difficulty import (
        REFERENCE,
        difficulty_experiment,
        study_datasets,
        summarise,
    )
    from annbench.views.difficulty_plots import plot_query_sets, plot_recall_by_difficulty

    names = study_datasets(
        dataset, obj.data_dir, n_set=n_set, ood_kind=ood_kind, shift=shift, seed=seed
    )
    n_base = dataset_info(dataset_path(names["all"], obj.data_dir))["n_base"]
    study = difficulty_experiment(names, n_base, seed)
    frame = run_study(
        study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo, per_query=True
    )
    if frame[frame["status"] == "ok"].empty:
        raise UserError("every run of the study failed; see `annbench results`")
    tables = summarise(frame, names, obj.data_dir)
    stem = study_path(obj.results_dir, f"difficulty-{names['all']}")
    number = lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"  # noqa: E731
    reference = ", ".join(f"{a} {p}" for a, p in REFERENCE.items())
    click.echo(f"Recall per difficulty quintile (bin 1 easiest), at {reference}:")
    for measure, ranges in tables["ranges"].items():
        click.echo(f"  {measure} bins: " + "; ".join(ranges))
    click.echo(tables["bins"].to_string(index=False, float_format=number))
    click.echo("\nEach query set (recall at the reference point; QPS at recall 0.9):")
    click.echo(tables["sets"].to_string(index=False, float_format=number, na_rep="-"))
    click.echo("\nIn-distribution vs out-of-distribution queries (QPS at recall 0.9):")
    click.echo(tables["ood"].to_string(index=False, float_format=number, na_rep="-"))
    written = []
    for key in ("bins", "sets", "ood"):
        path = stem.with_name(f"{stem.name}-{key}.csv")
        write_text(path, tables[key].to_csv(index=False))
        written.append(path)
    ok = frame[(frame["status"] == "ok") & (frame["mode"] == "batch")]
    ok = ok[ok["dataset"] == names["all"]]
    measures, _ = load_query_measures(dataset_path(names["all"], obj.data_dir))
    written += plot_recall_by_difficulty(ok, measures, stem, names["all"], target=0.9)
    written += plot_query_sets(frame[frame["status"] == "ok"], names, stem)
    for path in written:
        click.echo(f"wrote {path}")
