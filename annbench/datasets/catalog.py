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
from annbench.errors.names import check_name, inside

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
    """Where the dataset called ``name`` lives (or will live) in ``data_dir``: the name is
    checked (annbench.errors.names) and the path made sure to stay in the folder."""
    return inside(data_dir, f"{check_name(name, 'dataset name')}{SUFFIX}")


def is_path(name: str) -> bool:
    """Whether a dataset argument names a file rather than a dataset."""
    return Path(name).suffix in (SUFFIX, ".h5") or os.sep in name


def in_data_dir(path: str | os.PathLike, data_dir: str | os.PathLike) -> bool:
    """Whether ``path`` lies in ``data_dir`` (where annbench may write dataset files)."""
    return Path(path).resolve().parent == Path(data_dir).resolve()


def existing_dataset(name: str, data_dir: str | os.PathLike) -> Path | None:
    """The file ``name`` resolves to when it exists; None for a catalog dataset not made or
    fetched yet; one line for anything else."""
    candidate = Path(name)
    if is_path(name):
        if not candidate.is_file():
            raise UserError(f"dataset file {candidate} does not exist")
        return candidate
    path = dataset_path(name, data_dir)
    if path.exists():
        return path
    catalog_entry(name)  # refuses an unknown name
    return None


def resolve_dataset(
    name: str, data_dir: str | os.PathLike, *, create: bool = True, progress: bool | None = None
) -> Path:
    """The file for ``name``, making or fetching a catalog dataset if it is not there yet."""
    path = existing_dataset(name, data_dir)
    if path is not None:
        return path
    entry = catalog_entry(name)
    if not create:
        raise UserError(
            f"dataset {name!r} is not in {data_dir}; run `annbench datasets make` or `fetch`"
        )
    return materialize(name, entry, data_dir, progress=progress)


def materialize(
    name: str,
    entry: dict[str, Any],
    data_dir: str | os.PathLike,
    *,
    progress: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Make (synthetic) or fetch (download) a catalog entry into ``data_dir``; with
    ``overwrite`` the new file replaces an existing one only once it is complete."""
    if entry["kind"] == "synthetic":
        from annbench.datasets.build import make_dataset_file

        return make_dataset_file(
            dataset_path(name, data_dir),
            entry["generator"],
            entry.get("params"),
            seed=entry.get("seed", 0),
            metric=entry.get("metric", "euclidean"),
            progress=progress,
            overwrite=overwrite,
            extra_source={"catalog_name": name},
        )
    if entry["kind"] == "embedded":
        from annbench.datasets.groundtruth import save_with_ground_truth
        from annbench.datasets.wordnet import make_wordnet_minilm

        builders = {"wordnet-minilm": make_wordnet_minilm}
        dataset = builders[entry["builder"]](**entry.get("params", {}), progress=progress)
        dataset.source["catalog_name"] = name
        return save_with_ground_truth(
            dataset, dataset_path(name, data_dir), progress=progress, overwrite=overwrite
        )
    if entry["kind"] == "download":
        return fetch_dataset(
            entry["url"],
            name,
            data_dir,
            sha256=entry.get("sha256"),
            force=overwrite,
            progress=progress,
        )
    raise UserError(f"catalog entry {name!r} has unknown kind {entry['kind']!r}")


def fetch_dataset(
    url: str,
    name: str,
    data_dir: str | os.PathLike,
    *,
    sha256: str | None,
    force: bool = False,
    progress: bool | None = None,
) -> Path:
    """Download an ann-benchmarks-layout file as dataset ``name``, check that it loads, add
    missing ground truth. An existing dataset of that name is refused unless ``force`` (or
    unless ``sha256`` pins exactly the file it was downloaded as: then nothing is fetched);
    with ``force`` the file is downloaded again and replaces it only once it has been
    checked."""
    from annbench.datasets.download import check_url, fetch, sha256_of
    from annbench.datasets.store import dataset_info
    from annbench.datasets.update import update_dataset

    check_url(url)
    target = dataset_path(name, data_dir)
    if target.exists() and not force:
        if sha256 and download_sha256(target) == sha256.lower():
            return target  # the very file pinned: already fetched
        raise UserError(f"{target} already exists; pass --force to download it again over it")
    staging = target.with_name(f".{target.stem}.download{SUFFIX}")
    path = fetch(url, staging, sha256, progress=progress)
    try:
        try:
            info = dataset_info(path)
        except UserError as exc:
            raise UserError(
                f"downloaded {url} but it is not a usable dataset file ({exc}); discarded it"
            ) from None
        if info["ground_truth_k"] == 0:
            source = {**info["source"], "url": url, "download_sha256": sha256_of(path)}
            update_dataset(path, k=100, source=source, progress=progress)
        os.replace(path, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def download_sha256(path: str | os.PathLike) -> str:
    """sha256 of the file as downloaded, even after annbench added ground truth to it."""
    from annbench.datasets.download import sha256_of
    from annbench.datasets.store import dataset_info

    try:
        recorded = dataset_info(path)["source"].get("download_sha256")
    except UserError:
        recorded = None
    return recorded or sha256_of(path)
