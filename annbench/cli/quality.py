"""annbench tasks, models and experiment model-ranking: judged retrieval tasks (texts and
relevance judgements), the embedding models installed, and how far an index reorders them."""

from __future__ import annotations

from pathlib import Path

import click

from annbench.cli.base import Context, cli, echo_json, json_option, note, pass_context
from annbench.cli.studies import executor_option, experiment
from annbench.errors import UserError
from annbench.errors.files import write_text

progress_option = click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: on a terminal)."
)
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), help="Threads the models embed with."
)


@cli.group()
def tasks() -> None:
    """Judged retrieval tasks: documents, queries and graded relevance judgements (qrels)."""


@tasks.command("make")
@click.argument("name")
@click.option("--docs", "n_docs", type=click.IntRange(min=1), help="Slice: documents kept.")
@click.option("--queries", "n_queries", type=click.IntRange(min=1), help="Slice: queries kept.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--force", is_flag=True, help="Make the task again even if it is stored.")
@pass_context
def tasks_make(
    obj: Context, name: str, n_docs: int | None, n_queries: int | None, seed: int, force: bool
) -> None:
    """Make a generated task (wordnet-examples, wordnet-lemmas), or a seeded slice of it with
    --docs and --queries (every kept query keeps all its relevant documents)."""
    from annbench.datasets.judged_wordnet import make_task

    path = make_task(
        name, obj.data_dir, n_docs=n_docs, n_queries=n_queries, seed=seed, overwrite=force
    )
    click.echo(f"task {path.stem}: {path}")


@tasks.command("import")
@click.argument("name")
@click.option(
    "--docs",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="TSV: document id, tab, text; one per line.",
)
@click.option(
    "--queries",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="TSV: query id, tab, text; one per line.",
)
@click.option(
    "--qrels",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="TREC qrels: query id, 0, document id, grade; one per line.",
)
@click.option("--force", is_flag=True, help="Replace a stored task of this name.")
@pass_context
def tasks_import(
    obj: Context, name: str, docs: Path, queries: Path, qrels: Path, force: bool
) -> None:
    """Import a judged task from text files (every id in the qrels must be known)."""
    from annbench.datasets.judged import task_path, write_task
    from annbench.datasets.judged_trec import import_trec

    path = task_path(name, obj.data_dir)  # the name is checked before any file is read
    task = import_trec(docs, queries, qrels)
    write_task(task, path, overwrite=force)
    dropped = task.source.get("dropped_queries")
    if dropped:
        note(f"left out {dropped} queries without any judgement")
    click.echo(
        f"task {name}: {len(task.doc_texts)} documents, {len(task.query_texts)} queries, "
        f"{len(task.qrels_grade)} judgements: {path}"
    )


@tasks.command("list")
@json_option
@pass_context
def tasks_list(obj: Context, as_json: bool) -> None:
    """The judged tasks in the data folder."""
    from annbench.datasets.judged import list_tasks

    rows = list_tasks(obj.data_dir)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(
            f"no tasks in {obj.data_dir}; make one with `annbench tasks make "
            "wordnet-examples --docs 5000 --queries 500`"
        )
        return
    import pandas as pd

    click.echo(pd.DataFrame(rows).drop(columns=["path"], errors="ignore").to_string(index=False))


@tasks.command("embed")
@click.argument("task")
@click.option(
    "--model", "models", required=True, help="Comma-separated models (see `annbench models list`)."
)
@threads_option
@click.option("--force", is_flag=True, help="Write the vectors file again.")
@progress_option
@pass_context
def tasks_embed(
    obj: Context,
    task: str,
    models: str,
    threads: int | None,
    force: bool,
    progress: bool | None,
) -> None:
    """Embed a task with models: one dataset TASK.MODEL each (documents as the base,
    queries as the queries, exact ground truth), ready for `annbench run`."""
    from annbench.datasets.judged_vectors import embed_task
    from annbench.datasets.models.registry import model_spec

    names = [m.strip() for m in models.split(",") if m.strip()]
    for name in names:
        model_spec(name)  # every name checked before anything is embedded
    for name in names:
        path = embed_task(task, name, obj.data_dir, threads=threads, progress=progress, force=force)
        click.echo(f"dataset {path.stem}: {path}")


@cli.group()
def models() -> None:
    """Embedding models (their weights ship in Python packages; nothing is downloaded)."""


@models.command("list")
@json_option
def models_list(as_json: bool) -> None:
    """Every known model: dimension, licence, source and whether it is installed."""
    from annbench.datasets.models.registry import MODELS, missing_module

    rows = []
    for spec in MODELS.values():
        missing = missing_module(spec)
        rows.append(
            {
                "model": spec.name,
                "family": spec.family,
                "dimension": spec.dimension,
                "licence": spec.licence,
                "source": spec.source,
                "installed": "yes"
                if missing is None
                else f"no: pip install 'annbench[{spec.extra}]'",
            }
        )
    if as_json:
        echo_json(rows)
        return
    import pandas as pd

    click.echo(pd.DataFrame(rows).to_string(index=False))


@experiment.command("model-ranking")
@click.argument("task")
@click.option(
    "--models", "model_names", help="Comma-separated models (default: every installed one)."
)
@click.option(
    "--docs",
    "n_docs",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="A generated task's slice: documents kept.",
)
@click.option(
    "--queries",
    "n_queries",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="A generated task's slice: queries kept.",
)
@click.option("--full", is_flag=True, help="A generated task whole, not a slice.")
@click.option(
    "--indexes",
    default="hnswlib,faiss-hnsw,pgvector",
    show_default=True,
    help="Comma-separated indexes (of these three).",
)
@click.option(
    "--orders",
    default="random,label-grouped,lid-asc",
    show_default=True,
    help="Insertion orders, random first (the others: hnswlib and faiss-hnsw).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@threads_option
@executor_option
@progress_option
@pass_context
def experiment_model_ranking(
    obj: Context,
    task: str,
    model_names: str | None,
    n_docs: int | None,
    n_queries: int | None,
    full: bool,
    indexes: str,
    orders: str,
    seed: int,
    threads: int | None,
    executor: str,
    progress: bool | None,
) -> None:
    """Does the index change which embedding model wins? nDCG@10 per model under exact
    search and each index configuration, the models' ranks, Kendall's tau against exact
    search and the largest rank shift."""
    from annbench.cli.base import choice_list
    from annbench.datasets.models.registry import installed_models, model_spec
    from annbench.run.orders import ORDERS
    from annbench.studies import model_ranking as study

    chosen_indexes = choice_list(indexes, tuple(study.SURVEY), "index")
    chosen_orders = choice_list(orders, ORDERS, "order")
    names = [m.strip() for m in model_names.split(",")] if model_names else installed_models()
    for name in names:
        model_spec(name)
    if len(names) < 2:
        raise UserError(f"a ranking needs two models or more, got {', '.join(names)}")
    if full:
        n_docs = n_queries = None
    task_name = study.study_task(task, obj.data_dir, n_docs=n_docs, n_queries=n_queries, seed=seed)
    datasets = study.study_datasets(
        task_name, names, obj.data_dir, threads=threads, progress=progress
    )
    summary = study.run_model_ranking(
        list(datasets.values()),
        obj.data_dir,
        obj.results_dir,
        indexes=chosen_indexes,
        orders=chosen_orders,
        seed=seed,
        executor=executor,
        echo=click.echo,
    )
    _print_summary(obj, task_name, summary)


def _print_summary(obj: Context, task: str, summary: dict) -> None:
    from annbench.studies.common import study_path
    from annbench.views.judged_plots import plot_model_ranking

    stem = study_path(obj.results_dir, f"model-ranking-{task}")
    quality, scores, agreement = summary["quality"], summary["scores"], summary["agreement"]
    write_text(stem.with_suffix(".csv"), quality.to_csv(index=False))
    write_text(stem.parent / f"{stem.name}-agreement.csv", agreement.to_csv(index=False))
    figures = lambda v: f"{v:.3f}"  # noqa: E731
    click.echo(f"\nnDCG@10 per model (rows) and configuration (columns), task {task}:")
    click.echo(scores.T.to_string(float_format=figures))
    click.echo("\nrank of each model (1 = best):")
    click.echo(summary["ranks"].T.to_string())
    click.echo(
        "\nagreement with exact search (Kendall's tau-b over the models; drop = exact "
        "nDCG@10 minus the configuration's):"
    )
    click.echo(agreement.to_string(index=False, float_format=figures))
    for path in [
        stem.with_suffix(".csv"),
        stem.parent / f"{stem.name}-agreement.csv",
        *plot_model_ranking(quality, stem),
    ]:
        click.echo(f"wrote {path}")


QUALITY_COLUMNS = [
    "dataset",
    "adapter",
    "build_params",
    "query_params",
    "insertion_order",
    "mode",
    "recall",
    "ndcg@10",
    "rr@10",
    "recall@100",
    "qps",
]


def quality_results(obj: Context, dataset: str | None, include_stale: bool):
    """(the judged points with exact search's reference rows, their text table) for
    `annbench results --quality`; one line where no judged dataset has results."""
    import pandas as pd

    from annbench.datasets.catalog import dataset_path
    from annbench.store.quality import Qrels, exact_references, judged_frame, judged_source

    if dataset is not None:
        path = dataset_path(dataset, obj.data_dir)
        if path.exists() and judged_source(path) is None:
            raise UserError(
                f"dataset {dataset!r} has no relevance judgements (it was not made from a "
                "judged task), so nDCG cannot be computed; use `annbench tasks embed TASK "
                "--model MODEL` and run on its dataset"
            )
    qrels = Qrels(obj.data_dir)
    judged = judged_frame(obj.results_dir, obj.data_dir, include_stale=include_stale, qrels=qrels)
    for line in judged.attrs.get("notes", []):
        note(line)
    if dataset is not None:
        judged = judged[judged["dataset"] == dataset]
    judged = judged[judged["status"] == "ok"]
    if judged.empty:
        where = f"dataset {dataset!r}" if dataset else str(obj.results_dir)
        raise UserError(
            f"no results on a judged task in {where}; run `annbench experiment model-ranking "
            "wordnet-examples` or run an experiment on a TASK.MODEL dataset"
        )
    reference = [
        {**exact, "adapter": "exact (ground truth)", "recall": 1.0}
        for exact in exact_references(judged, obj.data_dir, qrels)
    ]
    table = pd.concat([pd.DataFrame(reference), judged], ignore_index=True)
    table = table.reindex(columns=QUALITY_COLUMNS).sort_values(
        ["dataset", "ndcg@10"], ascending=[True, False], kind="stable"
    )
    text = table.to_string(
        index=False, na_rep="-", float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    )
    return table.reset_index(drop=True), text
