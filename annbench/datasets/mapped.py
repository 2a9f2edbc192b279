"""A dataset file's base vectors and queries memory-mapped, so the jobs on one machine share them.

Where ``train`` and ``test`` are stored contiguous, unfiltered little-endian float32 (as annbench
writes them), they are mapped straight from the file: every job on the machine reads the same
page-cache copy, and nothing is decoded or copied. The mapping is copy-on-write, not read-only:
some libraries refuse read-only arrays (voyager's ``add_items``), and a page one writes to
becomes that process's own, never the file's. Any other file (chunked, compressed,
another type, attributes annbench would refuse) is read by ``load_dataset``, which also gives
the one-line reason when the file is unusable. The other arrays are small and read as usual.
"""

from __future__ import annotations

import json
import os

import numpy as np

from annbench.datasets.filter_layout import read_attributes, read_workload, workload_names
from annbench.datasets.store import Dataset, load_dataset, open_h5

VECTOR_TYPE = np.dtype("<f4")
METRIC_NAMES = {"euclidean": "euclidean", "angular": "angular", "cosine": "angular", "ip": "ip"}
PAGE = 4096


def load_mapped(path: str | os.PathLike, *, workloads: str | None = None) -> Dataset:
    """The dataset at ``path`` with ``base`` and ``queries`` memory-mapped (copy-on-write)
    where the file allows it, else as ``load_dataset`` reads it; the values are the same
    either way."""
    before = _identity(os.stat(path))
    with open_h5(path, "dataset", "make, fetch or import it first") as f:
        fields = _plain_fields(f, workloads)
        offsets = None if fields is None else [_offset(f[name]) for name in ("train", "test")]
        shapes = [f[name].shape for name in ("train", "test")]
    if fields is None or None in offsets:
        return load_dataset(path, workloads=workloads)
    with open(path, "rb") as handle:
        if _identity(os.fstat(handle.fileno())) != before:  # replaced while it was read
            return load_dataset(path, workloads=workloads)
        base, queries = (
            np.memmap(handle, VECTOR_TYPE, "c", offset=offset, shape=shape).view(np.ndarray)
            for offset, shape in zip(offsets, shapes)
        )
    return Dataset(base=base, queries=queries, **fields)


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def is_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory-mapped file."""
    while array is not None:
        if isinstance(array, np.memmap):
            return True
        array = array.base if isinstance(array.base, np.ndarray) else None
    return False


def prefault(array: np.ndarray) -> None:
    """Touch one byte per page of ``array``, so that later code (a timed build, an RSS sample)
    does not pay or count the first-touch faults of a mapped file."""
    if array.size and array.flags.c_contiguous:
        np.add.reduce(array.reshape(-1).view(np.uint8)[::PAGE], dtype=np.uint64)


def _offset(item) -> int | None:
    """The file offset of a dataset stored as one contiguous block of '<f4' values, else None."""
    if item.ndim != 2 or item.dtype != VECTOR_TYPE or item.chunks is not None:
        return None
    if item.external or item.size == 0:
        return None
    return item.id.get_offset()


def _plain_fields(f, workloads: str | None) -> dict | None:
    """Everything but the vectors, for a file of the usual kind; None where anything is unusual
    (load_dataset then reads the file and words any refusal)."""
    import h5py

    if not all(isinstance(f.get(name), h5py.Dataset) for name in ("train", "test")):
        return None
    metric = _text(f.attrs.get("distance"))
    if METRIC_NAMES.get(metric) is None or _text(f.attrs.get("point_type", "float")) != "float":
        return None
    has_gt = "neighbors" in f and "distances" in f
    if ("neighbors" in f) != ("distances" in f):
        return None
    neighbors = distances = None
    if has_gt:
        ids, gaps = f["neighbors"], f["distances"]
        if ids.ndim != 2 or ids.dtype.kind not in "iu" or gaps.dtype.kind != "f":
            return None
        neighbors = np.asarray(ids[:], dtype=np.int64)
        distances = np.asarray(gaps[:], dtype=np.float32)
        if not np.isfinite(distances).all():
            return None
    n = int(f["train"].shape[0])
    wanted = workload_names(f) if workloads is None else [w for w in [workloads] if w]
    measures = f.get("query_measures")
    return {
        "metric": METRIC_NAMES[metric],
        "neighbors": neighbors,
        "distances": distances,
        "labels": np.asarray(f["labels"][:]) if "labels" in f else None,
        "source": json.loads(f.attrs.get("annbench_source", "{}")),
        "lid": np.asarray(f["lid"][:]) if "lid" in f else None,
        "intrinsic": json.loads(f.attrs.get("annbench_intrinsic", "{}")),
        "query_labels": f["query_labels"][:] if "query_labels" in f else None,
        "query_parents": f["query_parents"][:] if "query_parents" in f else None,
        "query_measures": _query_measures(measures, int(f["test"].shape[0])),
        "query_measures_info": _measures_info(measures),
        "attributes": read_attributes(f, n),
        "workloads": {name: read_workload(f, name, f.filename) for name in wanted},
    }


def _query_measures(group, n_queries: int) -> dict[str, np.ndarray]:
    import h5py

    if not isinstance(group, h5py.Group):
        return {}
    return {
        name: np.asarray(item[:], dtype=np.float64)
        for name, item in group.items()
        if isinstance(item, h5py.Dataset) and item.shape == (n_queries,)
    }


def _measures_info(group) -> dict:
    try:
        info = json.loads(group.attrs.get("info", "{}")) if group is not None else {}
    except (TypeError, ValueError, AttributeError):
        return {}
    return info if isinstance(info, dict) else {}


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
