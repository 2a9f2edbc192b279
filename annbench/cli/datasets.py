"""annbench datasets: make, fetch, import, inspect and describe dataset files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annbench.cli.base import Context, cli, echo_json, json_option, note, pass_context
from annbench.errors import UserError
from annbench.errors.names import name_problem


@cli.group()
def datasets() -> None:
    """Make, fetch, import and inspect dataset files."""


@datasets.command("list")
@json_option
@pass_context
def datasets_list(obj: Context, as_json: bool) -> None:
    """Catalog datasets and the files already in the data directory."""
    from annbench.datasets.catalog import dataset_path, load_catalog

    rows = []
    for name, entry in sorted(load_catalog().items()):
        present = dataset_path(name, obj.data_dir).exists()
        rows.append(
            {
                "name": name,
                "kind": entry["kind"],
                "present": present,
                "description": entry.get("description", ""),
            }
        )
    known = {row["name"] for row in rows}
    for path in sorted(obj.data_dir.glob("*.hdf5")):
        if path.stem not in known:
            rows.append(
                {"name": path.stem, "kind": "local", "present": True, "description": str(path)}
            )
    if as_json:
        echo_json(rows)
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        mark = "*" if row["present"] else " "
        click.echo(f"{mark} {row['name']:<{width}}  {row['kind']:<9}  {row['description']}")
    click.echo("(* = present in the data directory)")


def _generators_epilog() -> str:
    """The generators and their parameters, for `datasets make --help` (signatures only:
    nothing is generated or imported beyond the module)."""
    from annbench.datasets.synthetic import describe_generators

    lines = ["Generators and their parameters (-p KEY=VALUE):"]
    for row in describe_generators():
        params = ", ".join(f"{p['name']}={p['default']}" for p in row["params"])
        lines.append(f"{row['name']}: {params}")
    return "\b\n" + "\n".join(lines)


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"parameter {pair!r} is not KEY=VALUE (for example -p n=10000)")
        params[key] = value
    return params


def _new_dataset_path(name: str, data_dir: Path, force: bool) -> Path:
    """Where a new dataset will go; refused up front if it would replace a file unasked."""
    from annbench.datasets.catalog import dataset_path

    path = dataset_path(name, data_dir)
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to replace it")
    return path


class _WithGenerators(click.Command):
    """`datasets make --help` ends with the generators, listed only when help is asked for."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.epilog = _generators_epilog()
        super().format_epilog(ctx, formatter)


@datasets.command("make", cls=_WithGenerators)
@click.argument("name")
@click.option(
    "--generator",
    "-g",
    help="Generator to use (see `annbench datasets generators` for each one's parameters); "
    "default: NAME's catalog recipe.",
)
@click.option("--param", "-p", "params", multiple=True, help="Generator parameter KEY=VALUE.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--metric",
    type=click.Choice(["euclidean", "angular", "ip"]),
    default="euclidean",
    show_default=True,
)
@click.option(
    "--k",
    "ground_truth_k",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Neighbours kept in the ground truth.",
)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_context
def datasets_make(
    obj: Context,
    name: str,
    generator: str | None,
    params: tuple[str, ...],
    seed: int,
    metric: str,
    ground_truth_k: int,
    force: bool,
) -> None:
    """Make a synthetic dataset: a catalog recipe, or NAME from --generator and -p KEY=VALUE.

    Every generator is made block by block in bounded memory (about the size of a few
    blocks besides the queries and labels); subspace and manifold then measure pointwise
    LID on the whole base, read back from the file, which peaks at about 5x its size."""
    from annbench.datasets.build import make_dataset_file
    from annbench.datasets.catalog import load_catalog, materialize

    path = _new_dataset_path(name, obj.data_dir, force)
    entry = load_catalog().get(name)
    if generator is None and entry is not None and entry["kind"] != "download" and not params:
        written = materialize(name, entry, obj.data_dir, overwrite=force)
    else:
        if generator is None:
            raise UserError(
                f"{name!r} is not a synthetic catalog recipe; pass --generator "
                "(gauss or blobs) and its parameters with -p KEY=VALUE"
            )
        written = make_dataset_file(
            path,
            generator,
            _parse_params(params),
            seed=seed,
            metric=metric,
            k=ground_truth_k,
            overwrite=force,
        )
    click.echo(f"wrote {written}")
    _note_stale(obj, name)


def _note_stale(obj: Context, name: str) -> None:
    """After a dataset was replaced: say how many stored results now describe old content."""
    from annbench.store.frame import load_frame

    if not obj.results_dir.is_dir():
        return
    frame = load_frame(obj.results_dir, data_dir=obj.data_dir, include_stale=True)
    stale = frame[(frame["dataset"] == name) & frame["stale"].eq(True)]["run_id"].nunique()
    if stale:
        note(
            f"{stale} stored results of {name!r} were measured on its old content; they are "
            "stale now and left out of results, plots, reports and the gate"
        )


@datasets.command("generators")
@json_option
def datasets_generators(as_json: bool) -> None:
    """The generators `datasets make --generator` takes, with their parameters."""
    from annbench.datasets.synthetic import describe_generators

    rows = describe_generators()
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}: {row['summary']}")
        for param in row["params"]:
            click.echo(f"    -p {param['name']}=...  {param['type']}, default {param['default']}")


@datasets.command("fetch")
@click.argument("name_or_url")
@click.option("--name", help="Dataset name for a URL (default: the file name in the URL).")
@click.option("--sha256", help="Expected sha256 of the file; a mismatch is refused.")
@click.option("--force", is_flag=True, help="Download again over an existing dataset.")
@pass_context
def datasets_fetch(
    obj: Context, name_or_url: str, name: str | None, sha256: str | None, force: bool
) -> None:
    """Download a catalog dataset or an ann-benchmarks-layout HDF5 file by URL.

    An existing dataset of the name is refused without --force (unless --sha256 pins exactly
    the file it holds: then nothing is downloaded)."""
    import re

    from annbench.datasets.catalog import (
        catalog_entry,
        dataset_path,
        download_sha256,
        fetch_dataset,
    )

    if sha256 is not None and not re.fullmatch(r"[0-9A-Fa-f]{64}", sha256):
        raise UserError(f"--sha256 {sha256!r} is not 64 hexadecimal digits")
    if "://" in name_or_url:
        url = name_or_url
        if name is None:
            name = Path(url.split("?")[0].split("#")[0]).stem
            problem = name_problem(name)
            if problem:
                raise UserError(
                    f"the file name in {url} gives the dataset name {name!r}, which {problem}; "
                    "name it with --name"
                )
    else:
        entry = catalog_entry(name_or_url)
        if entry["kind"] != "download":
            raise UserError(
                f"{name_or_url!r} is made, not fetched: `annbench datasets make {name_or_url}`"
            )
        url, name, sha256 = entry["url"], name or name_or_url, sha256 or entry.get("sha256")
    existed = dataset_path(name, obj.data_dir).exists()
    path = fetch_dataset(url, name, obj.data_dir, sha256=sha256, force=force)
    if existed and not force:
        click.echo(f"{path} is already the file pinned by its sha256; nothing downloaded")
        return
    click.echo(f"wrote {path} (sha256 {download_sha256(path)} as downloaded; pin it with --sha256)")
    if existed:
        _note_stale(obj, name)


@datasets.command("import")
@click.argument("name")
@click.argument("base", type=click.Path(path_type=Path))
@click.option("--queries", type=click.Path(path_type=Path), help="Query vectors file.")
@click.option(
    "--n-queries",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Without --queries: hold out this many base vectors as queries.",
)
@click.option(
    "--ground-truth",
    type=click.Path(path_type=Path),
    help="Neighbour ids (.ivecs/.npy) to use instead of computing them.",
)
@click.option("--labels", type=click.Path(path_type=Path), help="One label per base vector (.npy).")
@click.option(
    "--metric",
    type=click.Choice(["euclidean", "angular", "ip"]),
    default="euclidean",
    show_default=True,
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the query split.",
)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_context
def datasets_import(
    obj: Context,
    name: str,
    base: Path,
    queries: Path | None,
    n_queries: int,
    ground_truth: Path | None,
    labels: Path | None,
    metric: str,
    seed: int,
    force: bool,
) -> None:
    """Import vectors from .npy/.fvecs/.bvecs/.ivecs files as dataset NAME (the base is read
    and written block by block, so it may be larger than memory)."""
    from annbench.datasets.build import import_dataset_file
    from annbench.datasets.formats import plan_import

    path = _new_dataset_path(name, obj.data_dir, force)
    plan = plan_import(
        base,
        metric=metric,
        queries_path=queries,
        n_queries=n_queries,
        seed=seed,
        ground_truth_path=ground_truth,
        labels_path=labels,
    )
    click.echo(f"wrote {import_dataset_file(path, plan, metric=metric, overwrite=force)}")
    _note_stale(obj, name)


@datasets.command("info")
@click.argument("name")
@json_option
@pass_context
def datasets_info(obj: Context, name: str, as_json: bool) -> None:
    """Shapes, metric, ground truth and provenance of a dataset file."""
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import dataset_info

    info = dataset_info(resolve_dataset(name, obj.data_dir, create=False))
    if as_json:
        echo_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key:>16}: {json.dumps(value) if isinstance(value, dict) else value}")


@datasets.command("groundtruth")
@click.argument("name")
@click.option("--scheduler", help="Dask scheduler (tcp://HOST:PORT); default: a local cluster.")
@click.option(
    "--shards", type=click.IntRange(min=1), help="Pieces of the base (default: one per worker)."
)
@click.option("--k", "ground_truth_k", type=click.IntRange(min=1), default=100, show_default=True)
@pass_context
def datasets_groundtruth(
    obj: Context, name: str, scheduler: str | None, shards: int | None, ground_truth_k: int
) -> None:
    """Recompute a dataset's exact ground truth on a Dask cluster, the base split into shards
    that the workers read from the file (which they must see at the same path)."""
    from annbench.datasets.catalog import in_data_dir, resolve_dataset
    from annbench.datasets.groundtruth_sharded import sharded_exact_knn
    from annbench.datasets.update import GivenGroundTruth, update_dataset
    from annbench.run.executors.dask import connect

    path = resolve_dataset(name, obj.data_dir, create=False)
    if not in_data_dir(path, obj.data_dir):
        raise UserError(
            f"{path} lies outside the data folder {obj.data_dir}; annbench rewrites dataset "
            "files only there: copy it in, or pass --data-dir"
        )
    client = connect(scheduler)
    try:
        ids, distances, means, record = sharded_exact_knn(path, client, ground_truth_k, shards)
    finally:
        client.close()
    update_dataset(path, ground_truth=GivenGroundTruth(ids, distances, means, record))
    click.echo(f"wrote {path} (exact top-{ids.shape[1]} for {len(ids)} queries)")
