"""The intrinsic-dimension sweep: datasets with a controlled intrinsic dimension at fixed
ambient dimension and size, and recall at fixed HNSW parameters against the measured ID."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence


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
    from annbench.datasets.groundtruth import save_with_ground_truth
    from annbench.datasets.synthetic import make_synthetic

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
