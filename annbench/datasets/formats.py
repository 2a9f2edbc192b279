"""Import vectors from .npy and the texmex formats (.fvecs, .bvecs, .ivecs).

A texmex file is a sequence of records, each a little-endian int32 dimension d followed by d
components: float32 (.fvecs), uint8 (.bvecs) or int32 (.ivecs).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from annbench.datasets.store import Dataset
from annbench.errors import UserError

VECS_DTYPES = {".fvecs": np.dtype("<f4"), ".bvecs": np.dtype("u1"), ".ivecs": np.dtype("<i4")}
SUFFIXES = (".npy", *VECS_DTYPES)


def read_vecs(path: str | os.PathLike) -> np.ndarray:
    """Read a .fvecs/.bvecs/.ivecs file into an (n, d) array of its component type."""
    path = Path(path)
    dtype = VECS_DTYPES.get(path.suffix)
    if dtype is None:
        raise UserError(f"{path}: unknown vector format; expected one of {', '.join(VECS_DTYPES)}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size < 4:
        raise UserError(f"{path} is empty or truncated; expected {path.suffix} records")
    dim = int(raw[:4].view("<i4")[0])
    record = 4 + dim * dtype.itemsize
    if dim <= 0 or raw.size % record:
        raise UserError(
            f"{path} is not a valid {path.suffix} file (dimension {dim}, {raw.size} bytes "
            f"is not a whole number of {record}-byte records)"
        )
    records = raw.reshape(-1, record)
    if np.any(records[:, :4].copy().view("<i4")[:, 0] != dim):
        raise UserError(f"{path}: records disagree on the dimension; the file is corrupt")
    return records[:, 4:].copy().view(dtype).reshape(len(records), dim)


def write_vecs(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an (n, d) array as a texmex file of the type its suffix names."""
    path = Path(path)
    dtype = VECS_DTYPES[path.suffix]
    array = np.ascontiguousarray(array, dtype=dtype)
    n, dim = array.shape
    records = np.empty((n, 4 + dim * dtype.itemsize), dtype=np.uint8)
    records[:, :4] = np.full((n, 1), dim, dtype="<i4").view(np.uint8)
    records[:, 4:] = array.view(np.uint8).reshape(n, -1)
    records.tofile(path)


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read vectors from .npy or a texmex file as a 2-d array."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if path.suffix not in SUFFIXES:
        raise UserError(
            f"{path}: cannot import {path.suffix or 'a file without suffix'}; "
            f"supported: {', '.join(SUFFIXES)}"
        )
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise UserError(f"{path} is not a valid .npy array ({exc})") from None
    else:
        array = read_vecs(path)
    if array.ndim != 2:
        raise UserError(f"{path} holds an array of shape {array.shape}; expected (n, d)")
    return array


def import_vectors(
    base_path: str | os.PathLike,
    *,
    metric: str,
    queries_path: str | os.PathLike | None = None,
    n_queries: int = 1000,
    seed: int = 0,
    ground_truth_path: str | os.PathLike | None = None,
    labels_path: str | os.PathLike | None = None,
) -> Dataset:
    """A Dataset from vector files: a query file, or ``n_queries`` held out by a seeded split.

    ``ground_truth_path`` (an .ivecs or .npy of neighbour ids, as texmex ships) is used as is;
    without it the caller computes ground truth.
    """
    base = read_array(base_path).astype(np.float32)
    labels = read_array_1d(labels_path) if labels_path else None
    if labels is not None and len(labels) != len(base):
        raise UserError(
            f"{labels_path} holds {len(labels)} labels for {len(base)} vectors in {base_path}; "
            "give exactly one label per vector"
        )
    source: dict = {"imported_from": str(base_path), "seed": seed}
    if queries_path is not None:
        queries = read_array(queries_path).astype(np.float32)
        source["queries_from"] = str(queries_path)
    else:
        if not 0 < n_queries < len(base):
            raise UserError(
                f"cannot hold out {n_queries} queries from {len(base)} vectors; "
                "pass --n-queries below the number of vectors or give --queries FILE"
            )
        if ground_truth_path is not None:
            raise UserError("a ground-truth file needs a query file (--queries) to refer to")
        order = np.random.default_rng(seed).permutation(len(base))
        queries, base = base[order[:n_queries]], base[np.sort(order[n_queries:])]
        if labels is not None:
            labels = labels[np.sort(order[n_queries:])]
        source["n_queries_held_out"] = n_queries
    dataset = Dataset(base=base, queries=queries, metric=metric, labels=labels, source=source)
    if ground_truth_path is not None:
        from annbench.datasets.groundtruth import refine

        ids = read_array(ground_truth_path).astype(np.int64)
        if len(ids) != len(queries) or ids.min() < 0 or ids.max() >= len(base):
            raise UserError(
                f"{ground_truth_path}: ground truth of shape {ids.shape} with ids in "
                f"[{ids.min()}, {ids.max()}] does not fit {len(queries)} queries and "
                f"{len(base)} base vectors"
            )
        dataset.neighbors, dataset.distances = refine(base, queries, ids, metric)
        source["ground_truth_from"] = str(ground_truth_path)
    return dataset


def read_array_1d(path: str | os.PathLike) -> np.ndarray:
    """Labels: a .npy vector (or an (n, 1) texmex/npy array)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False).reshape(-1)
        except (ValueError, EOFError, OSError) as exc:
            raise UserError(f"{path} is not a valid .npy array ({exc})") from None
    return read_vecs(path).reshape(-1)
