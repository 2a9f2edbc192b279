"""The command line: each command parses its options, calls one library function, prints.

Errors meant for the user (UserError, click usage errors) are printed as one line on stderr
with exit status 2 and no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from annbench.errors import UserError

RESULT_COLUMNS = [
    "dataset",
    "label",
    "query_params",
    "mode",
    "search_threads",
    "recall",
    "qps",
    "qps_95ci",
    "!",
    "latency_p99_ms",
    "build_time_s",
    "status",
]


class Context:
    def __init__(self, data_dir: Path, results_dir: Path) -> None:
        self.data_dir = data_dir
        self.results_dir = results_dir


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="datasets",
    envvar="ANNBENCH_DATA_DIR",
    show_default=True,
    help="Where dataset files live.",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="results",
    envvar="ANNBENCH_RESULTS_DIR",
    show_default=True,
    help="Where result files live.",
)
@click.version_option(package_name="annbench")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path, results_dir: Path) -> None:
    """Benchmark approximate nearest-neighbour search."""
    ctx.obj = Context(data_dir, results_dir)


# -- datasets ---------------------------------------------------------------------------------


@cli.group()
def datasets() -> None:
    """Make, fetch, import and inspect dataset files."""


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        mark = "*" if row["present"] else " "
        click.echo(f"{mark} {row['name']:<{width}}  {row['kind']:<9}  {row['description']}")
    click.echo("(* = present in the data directory)")


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


@datasets.command("make")
@click.argument("name")
@click.option(
    "--generator", "-g", help="Generator to use (gauss, blobs); default: NAME's catalog recipe."
)
@click.option("--param", "-p", "params", multiple=True, help="Generator parameter KEY=VALUE.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--metric",
    type=click.Choice(["euclidean", "angular", "ip"]),
    default="euclidean",
    show_default=True,
)
@click.option(
    "--k",
    "ground_truth_k",
    type=int,
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
    """Make a synthetic dataset: a catalog recipe, or NAME from --generator and -p KEY=VALUE."""
    from annbench.datasets.catalog import load_catalog, materialize
    from annbench.datasets.synthetic import make_synthetic
    from annbench.groundtruth import save_with_ground_truth

    path = _new_dataset_path(name, obj.data_dir, force)
    entry = load_catalog().get(name)
    if generator is None and entry is not None and entry["kind"] != "download" and not params:
        if force:
            path.unlink(missing_ok=True)
        written = materialize(name, entry, obj.data_dir)
    else:
        if generator is None:
            raise UserError(
                f"{name!r} is not a synthetic catalog recipe; pass --generator "
                "(gauss or blobs) and its parameters with -p KEY=VALUE"
            )
        dataset = make_synthetic(generator, _parse_params(params), seed=seed, metric=metric)
        written = save_with_ground_truth(dataset, path, k=ground_truth_k, overwrite=force)
    click.echo(f"wrote {written}")


@datasets.command("fetch")
@click.argument("name_or_url")
@click.option("--name", help="Dataset name for a URL (default: the file name in the URL).")
@click.option("--sha256", help="Expected sha256 of the file; a mismatch is refused.")
@pass_context
def datasets_fetch(obj: Context, name_or_url: str, name: str | None, sha256: str | None) -> None:
    """Download a catalog dataset or an ann-benchmarks-layout HDF5 file by URL."""
    from annbench.datasets.catalog import catalog_entry, download_sha256, fetch_dataset

    if "://" in name_or_url:
        url = name_or_url
        name = name or Path(url.split("?")[0]).stem
    else:
        entry = catalog_entry(name_or_url)
        if entry["kind"] != "download":
            raise UserError(
                f"{name_or_url!r} is made, not fetched: `annbench datasets make {name_or_url}`"
            )
        url, name, sha256 = entry["url"], name or name_or_url, sha256 or entry.get("sha256")
    path = fetch_dataset(url, name, obj.data_dir, sha256=sha256)
    click.echo(f"wrote {path} (sha256 {download_sha256(path)} as downloaded; pin it with --sha256)")


@datasets.command("import")
@click.argument("name")
@click.argument("base", type=click.Path(path_type=Path))
@click.option("--queries", type=click.Path(path_type=Path), help="Query vectors file.")
@click.option(
    "--n-queries",
    type=int,
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
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the query split.")
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
    """Import vectors from .npy/.fvecs/.bvecs/.ivecs files as dataset NAME."""
    from annbench.datasets.formats import import_vectors
    from annbench.groundtruth import save_with_ground_truth

    path = _new_dataset_path(name, obj.data_dir, force)
    dataset = import_vectors(
        base,
        metric=metric,
        queries_path=queries,
        n_queries=n_queries,
        seed=seed,
        ground_truth_path=ground_truth,
        labels_path=labels,
    )
    click.echo(f"wrote {save_with_ground_truth(dataset, path, overwrite=force)}")


@datasets.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def datasets_info(obj: Context, name: str, as_json: bool) -> None:
    """Shapes, metric, ground truth and provenance of a dataset file."""
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import dataset_info

    info = dataset_info(resolve_dataset(name, obj.data_dir, create=False))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        click.echo(f"{key:>16}: {json.dumps(value) if isinstance(value, dict) else value}")


@datasets.command("groundtruth")
@click.argument("name")
@click.option("--scheduler", help="Dask scheduler (tcp://HOST:PORT); default: a local cluster.")
@click.option("--shards", type=int, help="Pieces of the base (default: one per worker).")
@click.option("--k", "ground_truth_k", type=int, default=100, show_default=True)
@pass_context
def datasets_groundtruth(
    obj: Context, name: str, scheduler: str | None, shards: int | None, ground_truth_k: int
) -> None:
    """Recompute a dataset's exact ground truth on a Dask cluster, the base split into shards
    that the workers read from the file (which they must see at the same path)."""
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import load_dataset, write_dataset
    from annbench.executors.dask import connect
    from annbench.groundtruth_sharded import sharded_exact_knn

    path = resolve_dataset(name, obj.data_dir, create=False)
    client = connect(scheduler)
    try:
        ids, distances = sharded_exact_knn(path, client, ground_truth_k, shards)
    finally:
        client.close()
    dataset = load_dataset(path)
    dataset.neighbors, dataset.distances = ids, distances
    write_dataset(path, dataset, overwrite=True)
    click.echo(f"wrote {path} (exact top-{ids.shape[1]} for {len(ids)} queries)")


@datasets.command("describe")
@click.argument("name")
@click.option(
    "--k",
    "lid_k",
    type=int,
    default=100,
    show_default=True,
    help="Neighbours per vector for the pointwise LID.",
)
@click.option("--bins", type=int, default=12, show_default=True, help="Histogram bins.")
@pass_context
def datasets_describe(obj: Context, name: str, lid_k: int, bins: int) -> None:
    """Intrinsic dimension: PCA-99%, TwoNN, mean pointwise MLE LID, and an LID histogram.

    The LID is computed once and stored in the dataset file."""
    from annbench.datasets.annotate import ensure_intrinsic
    from annbench.datasets.catalog import resolve_dataset

    dataset = ensure_intrinsic(resolve_dataset(name, obj.data_dir, create=False), lid_k)
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


# -- runs and results -------------------------------------------------------------------------


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
@click.option("--force", is_flag=True, help="Rerun jobs whose results are already stored.")
@click.option("--timeout", type=float, help="Seconds per job (overrides the spec).")
@click.option("--cpus", type=float, help="docker: CPU quota per container (e.g. 1.5).")
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
    type=click.Choice(["smoke"]),
    help="smoke: every registered adapter on a tiny dataset (instead of SPEC).",
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
    profile: str | None,
    datasets: tuple[str, ...],
) -> None:
    """Run the experiment in SPEC (default: the built-in blobs-100k-64 experiment)."""
    from dataclasses import replace

    from annbench.frame import load_frame
    from annbench.plan import default_experiment_path, expand, read_experiment
    from annbench.runner import run_sweep

    if executor == "docker":
        from annbench.images import client

        client()  # one clear line now if no engine answers, before any dataset work
    elif cpus or cpuset or memory:
        raise UserError("--cpus, --cpuset and --memory apply to --executor docker")
    if sum(bool(x) for x in (spec, suite, profile)) > 1:
        raise UserError("give one of SPEC, --suite and --profile")
    if suite == "smoke":
        from annbench.plan import smoke_experiment

        experiment = smoke_experiment()
    elif profile:
        from annbench.plan import profile_path

        experiment = read_experiment(profile_path(profile))
    else:
        experiment = read_experiment(spec or default_experiment_path())
    if datasets:
        experiment = replace(experiment, datasets=list(datasets))
    if timeout is not None:
        experiment = replace(experiment, timeout=timeout)
    jobs = expand(experiment, obj.data_dir)
    if executor == "docker":
        from annbench.images import adapter_image

        engine = client()
        for adapter in sorted({job.adapter for job in jobs}):
            adapter_image(engine, adapter)  # every image present before the first job starts
    click.echo(f"{len(jobs)} jobs, results in {obj.results_dir}")
    if scheduler and executor != "dask":
        raise UserError("--scheduler applies to --executor dask")
    options = {"cpus": cpus, "cpuset": cpuset, "memory": memory} if executor == "docker" else {}
    if executor == "dask":
        options = {"scheduler": scheduler}
    outcomes = run_sweep(
        jobs,
        obj.results_dir,
        executor=executor,
        force=force,
        echo=click.echo,
        options=options,
        parallel=parallel,
    )
    frame = load_frame(obj.results_dir)
    run_ids = {outcome.job.run_id for outcome in outcomes}
    click.echo(_table(frame[frame["run_id"].isin(run_ids)]))
    _warn_about(frame[frame["run_id"].isin(run_ids)], len(jobs))


def _warn_about(frame, n_jobs: int) -> None:
    failed = frame.loc[frame["status"] == "failed", "run_id"].nunique()
    if failed:
        click.echo(
            f"{failed} of {n_jobs} jobs failed; see the status and error columns "
            "of `annbench results`",
            err=True,
        )
    unstable = int(frame["unstable"].fillna(False).astype(bool).sum())
    if unstable:
        click.echo(
            f"{unstable} points vary by more than 10% between repeats (marked !); raise "
            "`repeats` or measure on a quieter machine",
            err=True,
        )


def _table(frame) -> str:
    """The summary view: one line per query-sweep point, unstable timings marked with !."""
    if frame.empty:
        return "no results"
    shown = frame.copy()
    shown["qps_95ci"] = [
        "" if pd_isna(low) else f"{low:,.0f}-{high:,.0f}"
        for low, high in zip(shown["qps_ci_low"], shown["qps_ci_high"])
    ]
    shown["!"] = ["!" if flag is True else "" for flag in shown["unstable"]]
    columns = [c for c in RESULT_COLUMNS if c in shown.columns]
    if (shown["status"] != "ok").any():
        columns.append("error")
    return shown[columns].to_string(
        index=False, na_rep="-", float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    )


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


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
@pass_context
def results(
    obj: Context, fmt: str, out: Path | None, dataset: str | None, spread: bool, all_columns: bool
) -> None:
    """The tidy results table: one row per query-sweep point (or per configuration with
    --spread), with recall, QPS statistics, latency, memory and build figures."""
    from annbench.analysis import seed_spread
    from annbench.frame import load_frame

    frame = load_frame(obj.results_dir)
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    if frame.empty:
        raise UserError(f"no results in {obj.results_dir}; run `annbench run` first")
    frame = frame.sort_values(["dataset", "adapter", "label", "recall"]).reset_index(drop=True)
    if spread:
        frame = seed_spread(frame)
    if fmt == "parquet":
        if out is None:
            raise UserError("parquet is a binary format; give --out FILE.parquet")
        frame.to_parquet(out, index=False)
        click.echo(f"wrote {out}")
        return
    if fmt == "csv":
        text = frame.to_csv(index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", indent=2)
    elif spread or all_columns:
        text = frame.to_string(index=False)
    else:
        text = _table(frame)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def env(as_json: bool) -> None:
    """The environment manifest recorded with every result: CPU, memory, OS, packages, BLAS."""
    import faiss  # noqa: F401  (loaded so that its OpenMP and BLAS show up)
    import numpy  # noqa: F401

    from annbench.machine import environment

    manifest = environment()
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    for key, value in manifest.items():
        if key == "cpu_flags":
            value = f"{len(value)} flags, SIMD: " + " ".join(
                f for f in value if f.startswith(("sse4", "avx", "fma", "neon", "sve"))
            )
        elif isinstance(value, (dict, list)):
            value = json.dumps(value)
        click.echo(f"{key:>16}: {value}")


VIEWS = ("pareto", "build", "memory", "latency", "order")


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
    "insertion order.",
)
@click.option("--dataset", help="Only this dataset.")
@click.option("--x", "x", default="recall", show_default=True, help="pareto: x-axis metric.")
@click.option("--y", "y", default="qps", show_default=True, help="pareto: y-axis metric (log).")
@pass_context
def plot(obj: Context, out: Path | None, view: str, dataset: str | None, x: str, y: str) -> None:
    """Draw the common views of the results, per dataset, as PNG and SVG."""
    from annbench import plots
    from annbench.analysis import order_effect
    from annbench.frame import load_frame

    frame = load_frame(obj.results_dir)
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
    if view == "pareto":
        written = plots.plot_pareto(frame, folder, x=x, y=y)
    for name, rows in frame.groupby("dataset", sort=True) if view != "pareto" else []:
        stem = folder / f"{name}-{view}"
        if view == "build":
            written += plots.plot_scatter(
                rows,
                stem,
                x="recall",
                y="build_time_s",
                ylabel="build time, s (log)",
                title=f"{name}: build time",
            )
        elif view == "memory":
            written += plots.plot_scatter(
                rows,
                stem,
                x="recall",
                y="index_memory_bytes",
                scale=1e6,
                ylabel="index size, MB (log)",
                title=f"{name}: index memory",
            )
        elif view == "latency" and rows["latency_p50_ms"].notna().any():
            written += plots.plot_latency(rows, stem, f"{name}: single-query latency")
        elif view == "order" and (rows["insertion_order"] == "random").any():
            written += plots.plot_order_effect(order_effect(rows), stem)
    if not written:
        raise UserError(
            f"the results hold nothing for the {view!r} view (single mode for "
            "latency; several orders including random for order)"
        )
    for path in written:
        click.echo(f"wrote {path}")


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{text!r} is not a comma-separated list of integers") from None


@cli.group()
def experiment() -> None:
    """Ready-made studies: insertion order and intrinsic dimension (Elliott & Clark 2024)."""


@experiment.command("order")
@click.argument("dataset")
@click.option("--seeds", type=int, default=3, show_default=True, help="Seeds per order.")
@click.option("--orders", help="Comma-separated orders (default: every applicable one).")
@click.option("--ef", "ef_search", default="10,40", show_default=True, help="ef values.")
@click.option("--k", type=int, default=10, show_default=True)
@click.option(
    "--executor", type=click.Choice(["process", "inline"]), default="process", show_default=True
)
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
    from annbench.analysis import order_effect
    from annbench.experiments import order_experiment, run_study, study_path
    from annbench.plots import plot_order_effect

    if seeds < 2:
        raise UserError("--seeds must be at least 2 for a confidence interval")
    chosen = [o.strip() for o in orders.split(",")] if orders else None
    study = order_experiment(
        dataset, obj.data_dir, seeds=seeds, orders=chosen, k=k, ef_search=_int_list(ef_search)
    )
    frame = run_study(study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo)
    table = order_effect(frame)
    if table.empty:
        raise UserError("every run of the study failed; see `annbench results`")
    stem = study_path(obj.results_dir, f"order-{table['dataset'].iloc[0]}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(stem.with_suffix(".csv"), index=False)
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
@click.option("--ambient", type=int, default=128, show_default=True, help="Ambient dimension D.")
@click.option("--n", type=int, default=20_000, show_default=True)
@click.option("--n-queries", type=int, default=500, show_default=True)
@click.option("--noise", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--ef", "ef_search", default="10,40", show_default=True, help="ef values.")
@click.option(
    "--executor", type=click.Choice(["process", "inline"]), default="process", show_default=True
)
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
    from annbench.experiments import (
        dimension_datasets,
        dimension_table,
        hnsw_adapters,
        run_study,
        study_path,
    )
    from annbench.plan import Experiment
    from annbench.plots import plot_recall_vs_dimension

    targets = _int_list(dims)
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
        adapters=hnsw_adapters(ef_search=_int_list(ef_search)),
        k=10,
        repeats=1,
        warmup=0,
    )
    frame = run_study(study, obj.data_dir, obj.results_dir, executor=executor, echo=click.echo)
    table = dimension_table(frame, obj.data_dir)
    stem = study_path(obj.results_dir, f"intrinsic-dim-{generator}-D{ambient}-n{n}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(stem.with_suffix(".csv"), index=False)
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for path in [stem.with_suffix(".csv"), *plot_recall_vs_dimension(table, stem)]:
        click.echo(f"wrote {path}")


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: RESULTS_DIR/report).",
)
@pass_context
def report(obj: Context, out: Path | None) -> None:
    """Write the static HTML report (opens from file://, no network needed)."""
    from annbench.report.builder import build_report

    index = build_report(obj.results_dir, out or obj.results_dir / "report")
    click.echo(f"report: {index.resolve()}")


@cli.group()
def baseline() -> None:
    """Baselines for `annbench check`."""


def _results_document(results_dir: Path) -> dict:
    from annbench.check import summarise
    from annbench.frame import load_frame
    from annbench.results import read_result, result_files

    files = result_files(results_dir)
    if not files:
        raise UserError(f"no results in {results_dir}; run `annbench run` first")
    return summarise(load_frame(results_dir), read_result(files[0]).environment)


@baseline.command("save")
@click.option(
    "--results",
    "results_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Results to summarise (default: --results-dir).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def baseline_save(obj: Context, results_dir: Path | None, out: Path) -> None:
    """Summarise a run (recall, QPS with its interval and frontiers per adapter, environment)."""
    from annbench.check import save_baseline

    document = _results_document(results_dir or obj.results_dir)
    click.echo(f"wrote {save_baseline(document, out)} ({len(document['points'])} points)")


def _fraction(text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UserError(f"{text!r} is not a fraction or a percentage (0.1 or 10%)") from None
    if not 0 <= value <= 1:
        raise UserError(f"{text!r} must lie between 0 and 100%")
    return value


@cli.command()
@click.option(
    "--baseline", "baseline_file", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--results",
    "results_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Current results (default: --results-dir).",
)
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
@pass_context
def check(
    obj: Context,
    baseline_file: Path,
    results_dir: Path | None,
    max_recall_drop: str,
    max_qps_drop: str,
    markdown_file: Path | None,
    junit_file: Path | None,
) -> None:
    """Compare results with a baseline: exit 0 within bounds, 1 on a regression, 2 on bad
    input."""
    from annbench import check as gate

    recall_drop, qps_drop = _fraction(max_recall_drop), _fraction(max_qps_drop)
    stored = gate.load_baseline(baseline_file)
    current = _results_document(results_dir or obj.results_dir)
    findings = gate.compare(stored, current, max_recall_drop=recall_drop, max_qps_drop=qps_drop)
    warnings = [
        f"environment differs: {line}" for line in gate.environment_differences(stored, current)
    ]
    missing = sum(f.kind == "missing" for f in findings)
    if missing:
        warnings.append(f"{missing} baseline points or adapters are not in the current results")
    regressions = [f for f in findings if f.regression]
    for finding in regressions:
        click.echo(
            f"REGRESSION {finding.kind:<6} {finding.dataset} {finding.adapter}: {finding.detail}"
        )
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if markdown_file:
        markdown_file.write_text(gate.markdown(findings, warnings))
    if junit_file:
        junit_file.write_text(gate.junit(findings))
    checked = len(findings) - missing
    click.echo(
        f"{checked} checks, {len(regressions)} regressions "
        f"(recall drop > {recall_drop:g}, QPS drop > {qps_drop:.0%} with intervals apart)"
    )
    if regressions:
        raise click.exceptions.Exit(1)


@cli.group()
def images() -> None:
    """Container images: a base with the worker, and one image per adapter."""


@images.command("build")
@click.argument("names", nargs=-1)
@click.option(
    "--base-image",
    default="python:3.11-slim",
    show_default=True,
    help="Image the base starts from (any Debian-like image; python3 is added if missing).",
)
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Extra CA bundle for pip inside the build (networks behind a TLS proxy).",
)
@click.option("--rebuild-base", is_flag=True, help="Rebuild the base even if it exists.")
def images_build(
    names: tuple[str, ...], base_image: str, ca_bundle: Path | None, rebuild_base: bool
) -> None:
    """Build the base image (when missing) and the images of NAMES (default: every adapter
    with a Dockerfile)."""
    import docker
    from annbench.adapters.registry import discover
    from annbench.images import BASE_TAG, build_adapter, build_base, client

    registry = discover()
    unknown = sorted(set(names) - set(registry))
    if unknown:
        raise UserError(
            f"unknown adapter {', '.join(unknown)}; known: {', '.join(sorted(registry))}"
        )
    chosen = (
        [registry[n] for n in names]
        if names
        else [spec for spec in registry.values() if (spec.folder / "Dockerfile").exists()]
    )
    engine = client()
    try:
        engine.images.get(BASE_TAG)
        have_base = True
    except docker.errors.ImageNotFound:
        have_base = False
    if rebuild_base or not have_base or not names:
        build_base(base_image, ca_bundle, echo=click.echo)
    for spec in chosen:
        build_adapter(spec, ca_bundle, echo=click.echo)


@images.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def images_list(as_json: bool) -> None:
    """annbench's images with their id, size and the library versions inside."""
    from annbench.images import list_images

    rows = list_images()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no annbench images; build them with `annbench images build`")
    for row in rows:
        versions = ", ".join(f"{k} {v}" for k, v in sorted(row["versions"].items()))
        click.echo(f"{row['tag']:<32} {row['id']:<20} {row['size_mb']:>6} MB  {versions}")


@cli.group()
def adapters() -> None:
    """The adapters annbench can run, and making new ones."""


@adapters.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def adapters_list(as_json: bool) -> None:
    """Every adapter found (built in, on ANNBENCH_ALGORITHMS_PATH, or installed as a plugin),
    with its library version, metrics, grids and where it comes from."""
    from annbench.adapters.registry import discover

    rows = [
        {
            "name": s.name,
            "source": s.source,
            "library": s.library,
            "version": s.library_version(),
            "metrics": list(s.metrics),
            "exact": s.exact,
            "build": s.build_grid,
            "query": s.query_grid,
            "folder": str(s.folder),
        }
        for s in discover().values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['name']:<16} {row['source']:<10.40} {row['library'] or '-':<14} "
            f"{row['version']:<10} build {row['build']} query {row['query']}"
        )


@adapters.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default="algorithms",
    show_default=True,
    help="Folder to create it in.",
)
def adapters_new(name: str, parent: Path) -> None:
    """Write a working adapter folder (module, spec, Dockerfile, conformance test) to edit."""
    from annbench.adapters.scaffold import new_adapter

    folder = new_adapter(name, parent)
    click.echo(f"wrote {folder}: edit adapter.py and spec.yml, then `pytest {folder}`")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and exit status 2."""
    try:
        status = cli.main(args=argv, prog_name="annbench", standalone_mode=False)
    except UserError as exc:
        click.echo(f"annbench: error: {exc}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("annbench: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"annbench: error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("annbench: interrupted; finished jobs are stored, rerun to resume", err=True)
        return 130
    return status if isinstance(status, int) else 0  # an Exit(code) comes back as its code


if __name__ == "__main__":
    sys.exit(main())
