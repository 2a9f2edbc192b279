"""Named datasets, and turning a name into a dataset file on disk.

A name resolves, in order, to: a path to an existing file; ``DATA_DIR/NAME.hdf5``; a catalog
entry, made (synthetic) or fetched (download) into ``DATA_DIR`` on first use.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from annbench.errors import UserError

SUFFIX = ".hdf5"


def load_catalog() -> dict[str, dict[str, Any]]:
    """The packaged catalog: name -> entry (kind, description, and how to make or fetch it)."""
    import yaml

    text = resources.files("annbench.datasets").joinpath("catalog.yml").read_text()
    return yaml.safe_load(text)


def catalog_entry(name: str) -> dict[str, Any]:
    catalog = load_catalog()
    if name not in catalog:
        raise UserError(
            f"unknown dataset {name!r}: not a file, not in the data directory and not in the "
            "catalog; see `annbench datasets list`"
        )
    return catalog[name]


def dataset_path(name: str, data_dir: str | os.PathLike) -> Path:
    """Where the dataset called ``name`` lives (or will live) in ``data_dir``."""
    return Path(data_dir) / f"{name}{SUFFIX}"


def resolve_dataset(
    name: str, data_dir: str | os.PathLike, *, create: bool = True, progress: bool | None = None
) -> Path:
    """The file for ``name``, making or fetching a catalog dataset if it is not there yet."""
    candidate = Path(name)
    if candidate.suffix in (SUFFIX, ".h5") or os.sep in name:
        if not candidate.exists():
            raise UserError(f"dataset file {candidate} does not exist")
        return candidate
    path = dataset_path(name, data_dir)
    if path.exists():
        return path
    entry = catalog_entry(name)
    if not create:
        raise UserError(
            f"dataset {name!r} is not in {data_dir}; run `annbench datasets make` or `fetch`"
        )
    return materialize(name, entry, data_dir, progress=progress)


def materialize(
    name: str, entry: dict[str, Any], data_dir: str | os.PathLike, *, progress: bool | None = None
) -> Path:
    """Make (synthetic) or fetch (download) a catalog entry into ``data_dir``."""
    if entry["kind"] == "synthetic":
        from annbench.datasets.synthetic import make_synthetic
        from annbench.groundtruth import save_with_ground_truth

        dataset = make_synthetic(
            entry["generator"],
            entry.get("params"),
            seed=entry.get("seed", 0),
            metric=entry.get("metric", "euclidean"),
        )
        dataset.source["catalog_name"] = name
        return save_with_ground_truth(dataset, dataset_path(name, data_dir), progress=progress)
    if entry["kind"] == "embedded":
        from annbench.datasets.wordnet import make_wordnet_minilm
        from annbench.groundtruth import save_with_ground_truth

        builders = {"wordnet-minilm": make_wordnet_minilm}
        dataset = builders[entry["builder"]](**entry.get("params", {}), progress=progress)
        dataset.source["catalog_name"] = name
        return save_with_ground_truth(dataset, dataset_path(name, data_dir), progress=progress)
    if entry["kind"] == "download":
        return fetch_dataset(
            entry["url"], name, data_dir, sha256=entry.get("sha256"), progress=progress
        )
    raise UserError(f"catalog entry {name!r} has unknown kind {entry['kind']!r}")


def fetch_dataset(
    url: str,
    name: str,
    data_dir: str | os.PathLike,
    *,
    sha256: str | None,
    progress: bool | None = None,
) -> Path:
    """Download an ann-benchmarks-layout file, check that it loads, add missing ground truth."""
    from annbench.datasets.download import fetch, sha256_of
    from annbench.datasets.store import dataset_info, load_dataset
    from annbench.groundtruth import save_with_ground_truth

    target = dataset_path(name, data_dir)
    if target.exists() and sha256 and download_sha256(target) == sha256.lower():
        return target  # already fetched (and perhaps given ground truth since)
    path = fetch(url, target, sha256, progress=progress)
    try:
        info = dataset_info(path)
    except UserError as exc:
        path.unlink()
        raise UserError(
            f"downloaded {url} but it is not a usable dataset file ({exc}); removed it"
        ) from None
    if info["ground_truth_k"] == 0:
        dataset = load_dataset(path)
        dataset.source.update(url=url, download_sha256=sha256_of(path))
        save_with_ground_truth(dataset, path, overwrite=True, progress=progress)
    return path


def download_sha256(path: str | os.PathLike) -> str:
    """sha256 of the file as downloaded, even after annbench added ground truth to it."""
    from annbench.datasets.download import sha256_of
    from annbench.datasets.store import dataset_info

    try:
        recorded = dataset_info(path)["source"].get("download_sha256")
    except UserError:
        recorded = None
    return recorded or sha256_of(path)
