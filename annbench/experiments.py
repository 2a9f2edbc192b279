"""Ready-made studies built from ordinary Experiments: the HNSW insertion-order study and the
intrinsic-dimension sweep (after Elliott & Clark, ICTIR 2024).

Both run as plain jobs through the usual plan -> executor -> worker path, so their results
land in the results store beside everything else; the functions here only choose the grid and
summarise the frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from annbench.plan import Experiment, expand
from annbench.runner import run_sweep

STUDY_M = 16
STUDY_EF_CONSTRUCTION = 128
STUDY_EF_SEARCH = (10, 40)


def hnsw_adapters(
    m: int = STUDY_M,
    ef_construction: int = STUDY_EF_CONSTRUCTION,
    ef_search: Sequence[int] = STUDY_EF_SEARCH,
) -> list[dict]:
    """hnswlib and faiss-hnsw at the same graph parameters and search breadths, each inserting
    vectors one by one in the order given (faiss otherwise reorders a batch by level)."""
    build = {"M": [m], "ef_construction": [ef_construction]}
    faiss_build = {**build, "add_batch_size": [1]}
    return [
        {"name": "hnswlib", "build": build, "query": {"ef": list(ef_search)}},
        {"name": "faiss-hnsw", "build": faiss_build, "query": {"ef_search": list(ef_search)}},
    ]


def applicable_orders(has_labels: bool) -> list[str]:
    from annbench.orders import NEEDS_LABELS, ORDERS

    return [order for order in ORDERS if has_labels or order not in NEEDS_LABELS]


def order_experiment(
    dataset: str,
    data_dir: str | os.PathLike,
    *,
    seeds: int = 3,
    orders: Sequence[str] | None = None,
    k: int = 10,
    ef_search: Sequence[int] = STUDY_EF_SEARCH,
) -> Experiment:
    """Every applicable order x ``seeds`` seeds, single-threaded builds so the order is exact."""
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import dataset_info

    if orders is None:
        info = dataset_info(resolve_dataset(dataset, data_dir))
        orders = applicable_orders(info["has_labels"])
    return Experiment(
        datasets=[dataset],
        adapters=hnsw_adapters(ef_search=ef_search),
        k=k,
        repeats=1,
        warmup=0,
        seeds=list(range(seeds)),
        orders=list(orders),
        build_threads=[1],
    )


def run_study(
    experiment: Experiment,
    data_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    *,
    executor: str = "process",
    echo: Callable[[str], None] | None = None,
):
    """Run an experiment and return the frame of exactly its runs."""
    from annbench.frame import load_frame

    jobs = expand(experiment, data_dir)
    outcomes = run_sweep(jobs, results_dir, executor=executor, echo=echo)
    frame = load_frame(results_dir)
    return frame[frame["run_id"].isin({outcome.job.run_id for outcome in outcomes})]


def dimension_datasets(
    dims: Sequence[int],
    data_dir: str | os.PathLike,
    *,
    generator: str = "subspace",
    ambient: int = 128,
    n: int = 20_000,
    n_queries: int = 500,
    noise: float = 0.0,
    seed: int = 0,
    echo: Callable[[str], None] | None = None,
) -> list[str]:
    """Make (once) one dataset per target intrinsic dimension; return their names."""
    from annbench.datasets.catalog import dataset_path
    from annbench.datasets.synthetic import make_synthetic
    from annbench.groundtruth import save_with_ground_truth

    names = []
    for d_int in dims:
        name = f"{generator}-D{ambient}-d{d_int}-n{n}-noise{noise:g}-s{seed}"
        path = dataset_path(name, data_dir)
        if not path.exists():
            if echo:
                echo(f"making {name}")
            params = {"n": n, "n_queries": n_queries, "dim": ambient, "d_int": d_int}
            dataset = make_synthetic(generator, {**params, "noise": noise}, seed=seed)
            save_with_ground_truth(dataset, path, progress=False)
        names.append(name)
    return names


def dimension_table(frame, data_dir: str | os.PathLike):
    """Recall per dataset and adapter point, beside the dataset's measured dimensions."""
    from annbench.datasets.catalog import dataset_path
    from annbench.datasets.store import dataset_info

    ok = frame[frame["status"] == "ok"].copy()
    measured = {name: dataset_info(dataset_path(name, data_dir)) for name in ok["dataset"].unique()}
    ok["d_int"] = [measured[name]["source"]["params"]["d_int"] for name in ok["dataset"]]
    for key in ("pca99", "twonn", "mle_mean"):
        ok[key] = [measured[name]["intrinsic"].get(key) for name in ok["dataset"]]
    columns = ["d_int", "pca99", "twonn", "mle_mean", "adapter", "query_params", "recall"]
    return ok[columns].sort_values(["adapter", "query_params", "d_int"]).reset_index(drop=True)


def study_path(results_dir: str | os.PathLike, name: str) -> Path:
    """Where a study writes its table and figures (a file stem, inside the results folder)."""
    from annbench.errors.names import file_stem, inside

    return inside(results_dir, "studies", file_stem(name))
