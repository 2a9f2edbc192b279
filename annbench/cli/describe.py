"""annbench datasets describe / queries / ood: how hard a dataset and each of its queries
are, query sets chosen by difficulty, and out-of-distribution query sets."""

from __future__ import annotations

from pathlib import Path

import click

from annbench.cli.base import Context, note, pass_context
from annbench.cli.datasets import _new_dataset_path, datasets
from annbench.errors import UserError

SUMMARY_COLUMNS = ("mean", "q05", "q25", "median", "q75", "q95", "non_finite")


def _parent(obj: Context, name: str) -> tuple[Path, str, bool]:
    """The parent dataset's file, its name, and whether annbench may store measures in it."""
    from annbench.datasets.catalog import in_data_dir, resolve_dataset

    path = resolve_dataset(name, obj.data_dir, create=False)
    return path, path.stem, in_data_dir(path, obj.data_dir)


def _derived_path(obj: Context, parent: Path, name: str, force: bool) -> Path:
    """Where a dataset made from ``parent`` goes; never over the parent itself."""
    target = _new_dataset_path(name, obj.data_dir, force)
    if target.resolve() == Path(parent).resolve():
        raise UserError(f"--name {name!r} is the dataset the queries come from; name another")
    return target


def describe_queries(obj: Context, name: str, force: bool) -> None:
    """Compute (where missing) and print the per-query difficulty measures of a dataset."""
    from annbench.datasets.annotate import ensure_query_measures

    path, stem, store = _parent(obj, name)
    dataset = ensure_query_measures(path, force=force, store=store)
    if not store:
        note(f"{path} lies outside the data folder; its query measures were not stored")
    info = dataset.query_measures_info
    click.echo(f"{stem}: {len(dataset.queries)} queries, {dataset.metric}")
    over = info.get("mean_distance_over", "all")
    rows = info.get("rows")
    click.echo(
        f"  mean distance over {'all ' if over == 'all' else 'a seeded sample of '}{rows} "
        "base vectors"
    )
    click.echo("  " + f"{'measure':<17}" + "".join(f"{c:>11}" for c in SUMMARY_COLUMNS))
    for measure, stats in sorted(info.get("summary", {}).items()):
        cells = "".join(
            f"{stats.get(column, float('nan')):>11.4g}"
            if column != "non_finite"
            else f"{stats.get(column, 0):>11d}"
            for column in SUMMARY_COLUMNS
        )
        click.echo(f"  {measure:<17}{cells}")


@datasets.command("queries")
@click.argument("name")
@click.option(
    "--select",
    required=True,
    type=click.Choice(["easy", "medium", "hard", "diverse"]),
    help="easy/hard: least/most difficult; medium: around the median; diverse: spread evenly.",
)
@click.option(
    "--by",
    default="lid",
    show_default=True,
    help="Measure: lid (lid_100), rc (rc_10), expansion (expansion_10), or a stored one "
    "(lid_10, rc_1, rc_100, mahalanobis, ...).",
)
@click.option("--n", "n", type=int, required=True, help="How many queries to keep.")
@click.option("--name", "new_name", help="New dataset name (default: NAME-SELECT-BY-N).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_context
def datasets_queries(
    obj: Context, name: str, select: str, by: str, n: int, new_name: str | None, force: bool
) -> None:
    """Write a dataset of NAME's base and N of its queries chosen by difficulty."""
    from annbench.datasets.queries import write_query_set
    from annbench.intrinsic.difficulty import measure_name

    path, stem, store = _parent(obj, name)
    target = _derived_path(
        obj, path, new_name or f"{stem}-{select}-{measure_name(by).replace('_', '')}-{n}", force
    )
    chosen = write_query_set(
        path, stem, target, select, by, n, overwrite=force, store_measures=store
    )
    low, high = chosen.source["range"] or (float("nan"), float("nan"))
    click.echo(
        f"wrote {target} ({n} {select} queries of {stem} by {chosen.source['by']}: "
        f"{low:.4g} .. {high:.4g})"
    )


@datasets.command("ood")
@click.argument("name")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["noise", "tilt", "clusters", "words", "examples"]),
    help="noise: lifted off the base's subspace; tilt: rotated out of it; clusters: around "
    "centres absent from the base; words/examples: WordNet text (wordnet-minilm only).",
)
@click.option(
    "--shift",
    type=float,
    default=1.0,
    show_default=True,
    help="Size of the shift (noise/clusters: x the base's RMS radius; tilt: x 90 degrees).",
)
@click.option("--n", "n", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--name", "new_name", help="New dataset name (default: NAME-ood-KIND-SHIFT).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_context
def datasets_ood(
    obj: Context,
    name: str,
    kind: str,
    shift: float,
    n: int,
    seed: int,
    new_name: str | None,
    force: bool,
) -> None:
    """Write a dataset of NAME's base and N out-of-distribution queries, the shift measured."""
    from annbench.datasets.ood import TEXT_KINDS, write_ood_set

    path, stem, store = _parent(obj, name)
    if kind in TEXT_KINDS:
        default_name = f"{stem}-ood-{kind}"
    else:
        default_name = f"{stem}-ood-{kind}-{shift:g}".replace(".", "p").replace("+", "")
    target = _derived_path(obj, path, new_name or default_name, force)
    shifted = write_ood_set(
        path, stem, target, kind, shift, n, seed, overwrite=force, store_measures=store
    )
    info = shifted.query_measures_info
    click.echo(f"wrote {target}")
    for measure in ("mahalanobis", "mahalanobis_diag", "rc_10", "lid_100"):
        now = info["summary"].get(measure, {}).get("mean", float("nan"))
        before = info.get("parent_summary", {}).get(measure, {}).get("mean", float("nan"))
        click.echo(f"  mean {measure:<17} {now:10.4g}  (in-distribution queries: {before:.4g})")


@datasets.command("describe")
@click.argument("name")
@click.option(
    "--k",
    "lid_k",
    type=int,
    help="Neighbours per vector for the pointwise LID  [default: 100, or n - 1 if smaller]",
)
@click.option(
    "--bins", type=click.IntRange(min=1), default=12, show_default=True, help="Histogram bins."
)
@click.option(
    "--queries",
    "of_queries",
    is_flag=True,
    help="Describe the queries instead: per-query LID, relative contrast, expansion and "
    "Mahalanobis distance (computed once and stored).",
)
@click.option("--force", is_flag=True, help="With --queries: compute the measures again.")
@pass_context
def datasets_describe(
    obj: Context, name: str, lid_k: int | None, bins: int, of_queries: bool, force: bool
) -> None:
    """Intrinsic dimension: PCA-99%, TwoNN, mean pointwise MLE LID, and an LID histogram;
    with --queries, how difficult each query is.

    The LID is computed once and stored in the dataset file (for files in the data folder;
    a file elsewhere is described without being written to)."""
    from annbench.datasets.annotate import ensure_intrinsic
    from annbench.datasets.catalog import in_data_dir, resolve_dataset

    if of_queries:
        describe_queries(obj, name, force)
        return
    path = resolve_dataset(name, obj.data_dir, create=False)
    store = in_data_dir(path, obj.data_dir)
    dataset = ensure_intrinsic(path, lid_k, store=store)
    if not store:
        note(f"{path} lies outside the data folder; its LID was computed but not stored")
    n, dim = dataset.base.shape
    click.echo(f"{name}: {n} x {dim}, {dataset.metric}")
    for key, label in (
        ("pca99", "PCA components for 99% variance"),
        ("twonn", "TwoNN"),
        ("mle_mean", f"mean pointwise MLE LID (k={dataset.intrinsic['lid_k']})"),
        ("mle_median", "median pointwise MLE LID"),
    ):
        value = dataset.intrinsic[key]
        click.echo(f"  {label:<40} {value if isinstance(value, int) else f'{value:.2f}'}")
    click.echo(_histogram(dataset.lid, bins))


def _histogram(values, bins: int, width: int = 40) -> str:
    import numpy as np

    finite = values[np.isfinite(values)]
    counts, edges = np.histogram(finite, bins=bins)
    lines = ["  pointwise LID histogram:"]
    for count, low, high in zip(counts, edges[:-1], edges[1:]):
        bar = "#" * int(round(width * count / max(counts.max(), 1)))
        lines.append(f"  {low:8.2f} - {high:8.2f} | {bar} {count}")
    return "\n".join(lines)
