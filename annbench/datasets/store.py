"""The dataset file: HDF5 in the ann-benchmarks layout, plus annbench's own attributes.

Layout (readable by any h5py code that expects ann-benchmarks files):

- ``train`` (n, d) base vectors, ``test`` (nq, d) queries,
- ``neighbors`` (nq, K) exact neighbour ids, ``distances`` (nq, K) their distances,
- attrs ``distance`` (euclidean | angular | ip), ``point_type`` ("float"), ``dimension``, ``type``.

annbench adds ``labels`` (n,) when the base vectors have categories, ``lid`` (n,) once the
pointwise local intrinsic dimensionality has been estimated, the group ``query_measures``
(one array per measure, one value per query: see ``annbench.datasets.query_measures``),
``query_parents`` (nq,) where the queries were chosen from another dataset's, and the
attributes
``annbench_format_version``, ``annbench_source`` (JSON: generator or origin, parameters, seed),
``annbench_intrinsic`` (JSON: global intrinsic-dimension estimates and the LID's k) and
``annbench_content_hash`` (sha256 of metric, base and queries).

Distances follow the ann-benchmarks definitions: euclidean is the L2 distance (not squared),
angular is the cosine distance 1 - cos(a, b), and ip is the negated inner product, so that for
every metric smaller is closer and each row of ``distances`` ascends.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annbench.datasets.filter_layout import (
    read_attributes,
    read_workload,
    workload_hash,
    workload_names,
)
from annbench.datasets.filters import Attributes, FilterWorkload
from annbench.datasets.validity import METRICS, check_finite, check_shapes, first_nonfinite_blocks
from annbench.errors import UserError
from annbench.errors.files import atomic_path


@dataclass
class Dataset:
    """Base vectors, queries and (once computed) exact ground truth for one metric."""

    base: np.ndarray
    queries: np.ndarray
    metric: str
    neighbors: np.ndarray | None = None
    distances: np.ndarray | None = None
    labels: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)
    lid: np.ndarray | None = None
    intrinsic: dict[str, Any] = field(default_factory=dict)
    query_labels: np.ndarray | None = None  # where the queries' own categories are known
    attributes: Attributes | None = None  # attribute columns for filtered search
    workloads: dict[str, FilterWorkload] = field(default_factory=dict)
    # per-query difficulty measures (name -> (nq,) array) and how they were computed
    query_measures: dict[str, np.ndarray] = field(default_factory=dict)
    query_measures_info: dict[str, Any] = field(default_factory=dict)
    # where the queries were selected from another dataset: their row there
    query_parents: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.check()

    @property
    def dimension(self) -> int:
        return int(self.base.shape[1])

    @property
    def ground_truth_k(self) -> int:
        return 0 if self.neighbors is None else int(self.neighbors.shape[1])

    def check(self) -> None:
        """Refuse inconsistent shapes with a message naming the mismatch."""
        check_shapes(self.metric, self.base.shape, self.queries.shape)
        for name in ("base", "queries"):
            check_finite(name, *first_nonfinite_blocks(getattr(self, name)))
        if (self.neighbors is None) != (self.distances is None):
            raise UserError("neighbors and distances must be given together")
        if self.neighbors is not None:
            expected = (len(self.queries), self.neighbors.shape[1])
            if self.neighbors.shape != expected or self.distances.shape != expected:
                raise UserError(
                    f"ground truth shapes {self.neighbors.shape} / {self.distances.shape} "
                    f"do not match {len(self.queries)} queries"
                )
            ids = np.asarray(self.neighbors)
            if not np.issubdtype(ids.dtype, np.integer) and not (
                np.isfinite(ids).all() and (ids == np.round(ids)).all()
            ):
                raise UserError("ground-truth ids must be whole numbers")
            if ids.size and (ids.min() < 0 or ids.max() >= len(self.base)):
                raise UserError(
                    f"ground-truth ids {ids.min():g}..{ids.max():g} fall outside the "
                    f"{len(self.base)} base vectors (0..{len(self.base) - 1})"
                )
        for name, values in [
            ("query_labels", self.query_labels),
            ("query_parents", self.query_parents),
            *self.query_measures.items(),
        ]:
            if values is not None and np.shape(values) != (len(self.queries),):
                raise UserError(f"{name} must hold one entry per query ({len(self.queries)})")
        for name in ("labels", "lid"):
            values = getattr(self, name)
            if values is not None and values.shape != (len(self.base),):
                raise UserError(
                    f"{name} must hold one entry per base vector ({len(self.base)}), "
                    f"got shape {values.shape}"
                )


def content_hash(base: np.ndarray, queries: np.ndarray, metric: str) -> str:
    """sha256 over the metric and the float32 bytes of base and queries."""
    digest = hashlib.sha256(metric.encode())
    for array in (base, queries):
        array = np.ascontiguousarray(array, dtype=np.float32)
        digest.update(str(array.shape).encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def write_dataset(path: str | os.PathLike, dataset: Dataset, *, overwrite: bool = False) -> str:
    """Write ``dataset`` atomically to ``path``; return its content hash."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --force to replace it")
    if dataset.neighbors is None:
        raise UserError(f"refusing to write {path} without ground truth")
    from annbench.datasets.writer import DatasetWriter

    with atomic_path(path) as tmp:
        writer = DatasetWriter(
            tmp,
            n=len(dataset.base),
            n_queries=len(dataset.queries),
            dim=dataset.dimension,
            metric=dataset.metric,
            source=dataset.source,
        )
        try:
            for start in range(0, len(dataset.base), WRITE_ROWS):
                writer.append_base(dataset.base[start : start + WRITE_ROWS])
            writer.set_queries(dataset.queries)
            writer.put("neighbors", dataset.neighbors, np.int64)
            writer.put("distances", dataset.distances, np.float32)
            for name, dtype in OPTIONAL_ARRAYS.items():
                if getattr(dataset, name) is not None:
                    writer.put(name, getattr(dataset, name), dtype)
            if dataset.query_measures:
                writer.put_measures(dataset.query_measures, dataset.query_measures_info)
            return writer.close(dataset.intrinsic, dataset.attributes, dataset.workloads)
        except BaseException:
            writer.abort()
            raise


WRITE_ROWS = 1 << 16  # base vectors checked, hashed and written at a time
OPTIONAL_ARRAYS = {
    "labels": np.int64,
    "lid": np.float64,
    "query_labels": np.int64,
    "query_parents": np.int64,
}


def _open(path: str | os.PathLike):
    return open_h5(path, "dataset", "make, fetch or import it first")


def open_dataset(path: str | os.PathLike):
    """The dataset file at ``path`` open for reading (one line where it cannot be)."""
    return _open(path)


def checked_metric(f, path: str | os.PathLike) -> str:
    """The metric of an open dataset file, once its layout and ground truth are checked."""
    return _metric_of(f, path)


def open_h5(path: str | os.PathLike, what: str, fix: str):
    """The HDF5 file at ``path`` open for reading, else one line: missing (say ``fix``), a
    folder, or not HDF5. ``what`` names the kind of file (dataset, task)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} file {path} does not exist; {fix}")
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = " ".join(str(exc).split())
        raise UserError(f"{path} is not a readable HDF5 file ({reason})") from None


def _metric_of(f, path) -> str:
    metric = f.attrs.get("distance")
    if isinstance(metric, bytes):
        metric = metric.decode()
    if metric is None:
        raise UserError(f"{path} has no 'distance' attribute; is it an ann-benchmarks file?")
    if metric == "cosine":
        metric = "angular"
    if metric not in METRICS:
        raise UserError(f"{path} uses distance {metric!r}; annbench supports {', '.join(METRICS)}")
    point_type = f.attrs.get("point_type", "float")
    if isinstance(point_type, bytes):
        point_type = point_type.decode()
    if point_type != "float":
        raise UserError(f"{path} stores point_type {point_type!r}; only 'float' is supported")
    _check_arrays(f, path)
    return metric


NUMERIC_KINDS = "iuf"


def _array(f, key: str, path):
    """The h5py dataset ``key``, refused unless it is a numeric 2-d array."""
    import h5py

    item = f.get(key)
    if not isinstance(item, h5py.Dataset):
        raise UserError(f"{path} has no '{key}' array; not an ann-benchmarks layout file")
    if item.dtype.kind not in NUMERIC_KINDS:
        raise UserError(f"{path}: '{key}' holds {item.dtype} values, not numbers; repair the file")
    if item.ndim != 2:
        raise UserError(f"{path}: '{key}' has shape {item.shape}, not (rows, columns)")
    return item


def _check_arrays(f, path) -> None:
    """Shapes and types of the layout's arrays, and ground truth that can be trusted: ids
    that are whole numbers naming base vectors, distances that are numbers."""
    train, test = _array(f, "train", path), _array(f, "test", path)
    if train.shape[1] != test.shape[1]:
        raise UserError(
            f"{path}: base vectors have dimension {train.shape[1]}, queries {test.shape[1]}; "
            "both must match"
        )
    if train.shape[0] == 0 or test.shape[0] == 0 or train.shape[1] == 0:
        raise UserError(
            f"{path}: needs at least one base vector and one query, of dimension 1 or more"
        )
    if ("neighbors" in f) != ("distances" in f):
        raise UserError(f"{path}: 'neighbors' and 'distances' must be stored together")
    if "neighbors" not in f:
        return
    neighbors, distances = _array(f, "neighbors", path), _array(f, "distances", path)
    if neighbors.shape[0] != test.shape[0] or distances.shape != neighbors.shape:
        raise UserError(
            f"{path}: ground truth shapes {neighbors.shape} / {distances.shape} do not match "
            f"its {test.shape[0]} queries"
        )
    ids = neighbors[:]
    if ids.dtype.kind == "f" and not (np.isfinite(ids).all() and (ids == np.round(ids)).all()):
        raise UserError(f"{path}: 'neighbors' holds ids that are not whole numbers; repair it")
    if ids.size and (ids.min() < 0 or ids.max() >= train.shape[0]):
        raise UserError(
            f"{path}: 'neighbors' holds ids {ids.min():g}..{ids.max():g}, outside the "
            f"{train.shape[0]} base vectors (0..{train.shape[0] - 1}); repair its ground truth"
        )
    if not np.isfinite(distances[:]).all():
        raise UserError(f"{path}: 'distances' holds NaN or infinite values; repair it")


def load_dataset(path: str | os.PathLike, *, workloads: str | None = None) -> Dataset:
    """Load a dataset file (annbench's or ann-benchmarks') into memory as float32, with its
    attributes and filter workloads (with ``workloads`` = a name: that one alone, "" for
    none: a job needs only its own)."""
    with _open(path) as f:
        metric = _metric_of(f, path)
        has_gt = "neighbors" in f and "distances" in f
        n = int(f["train"].shape[0])
        wanted = workload_names(f) if workloads is None else [w for w in [workloads] if w]
        return Dataset(
            base=np.ascontiguousarray(f["train"][:], dtype=np.float32),
            queries=np.ascontiguousarray(f["test"][:], dtype=np.float32),
            metric=metric,
            neighbors=np.asarray(f["neighbors"][:], dtype=np.int64) if has_gt else None,
            distances=np.asarray(f["distances"][:], dtype=np.float32) if has_gt else None,
            labels=np.asarray(f["labels"][:]) if "labels" in f else None,
            source=json.loads(f.attrs.get("annbench_source", "{}")),
            lid=np.asarray(f["lid"][:]) if "lid" in f else None,
            intrinsic=json.loads(f.attrs.get("annbench_intrinsic", "{}")),
            query_labels=f["query_labels"][:] if "query_labels" in f else None,
            query_parents=f["query_parents"][:] if "query_parents" in f else None,
            query_measures=read_query_measures(f),
            query_measures_info=read_measures_info(f),
            attributes=read_attributes(f, n),
            workloads={name: read_workload(f, name, path) for name in wanted},
        )


def read_query_measures(f) -> dict[str, np.ndarray]:
    """The per-query measures of an open dataset file (empty where none are stored)."""
    import h5py

    group = f.get("query_measures")
    if not isinstance(group, h5py.Group):
        return {}
    n_queries = int(f["test"].shape[0])
    measures = {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset) and item.shape == (n_queries,):
            measures[name] = np.asarray(item[:], dtype=np.float64)
    return measures


def load_query_measures(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A dataset file's per-query measures and their record, without loading its vectors."""
    with _open(path) as f:
        _metric_of(f, path)
        return read_query_measures(f), read_measures_info(f)


def read_measures_info(f) -> dict[str, Any]:
    """The record of how an open dataset file's per-query measures were taken ({} if none)."""
    group = f.get("query_measures")
    try:
        info = json.loads(group.attrs.get("info", "{}")) if group is not None else {}
    except (TypeError, ValueError, AttributeError):
        return {}
    return info if isinstance(info, dict) else {}


def dataset_info(path: str | os.PathLike) -> dict[str, Any]:
    """Shapes and attributes of a dataset file, without loading its arrays."""
    with _open(path) as f:
        metric = _metric_of(f, path)
        stored_hash = f.attrs.get("annbench_content_hash")
        return {
            "name": Path(path).stem,
            "path": str(path),
            "metric": metric,
            "n_base": int(f["train"].shape[0]),
            "n_queries": int(f["test"].shape[0]),
            "dimension": int(f["train"].shape[1]),
            "ground_truth_k": int(f["neighbors"].shape[1]) if "neighbors" in f else 0,
            "has_labels": "labels" in f,
            "has_lid": "lid" in f,
            "query_measures": sorted(read_query_measures(f)),
            "attributes": sorted(f["attributes"]) if "attributes" in f else [],
            "workloads": {
                name: {
                    "filter": str(f["workloads"][name].attrs["filter"]),
                    **json.loads(f["workloads"][name].attrs.get("info", "{}")),
                }
                for name in workload_names(f)
            },
            "intrinsic": json.loads(f.attrs.get("annbench_intrinsic", "{}")),
            "format_version": int(f.attrs.get("annbench_format_version", 0)),
            "source": json.loads(f.attrs.get("annbench_source", "{}")),
            "content_hash": str(stored_hash) if stored_hash is not None else None,
        }


def content_hash_file(path: str | os.PathLike, rows: int = 1 << 16) -> str:
    """``content_hash`` of a dataset file's base and queries (as float32), read in blocks of
    ``rows`` vectors, so a file larger than memory can be hashed."""
    with _open(path) as f:
        metric = _metric_of(f, path)
        digest = hashlib.sha256(metric.encode())
        for array in (f["train"], f["test"]):
            digest.update(str(tuple(int(x) for x in array.shape)).encode())
            for start in range(0, array.shape[0], rows):
                block = np.ascontiguousarray(array[start : start + rows], dtype=np.float32)
                digest.update(memoryview(block).cast("B"))
    return digest.hexdigest()


def dataset_hash(path: str | os.PathLike, workload: str = "") -> str:
    """The stored content hash, or one computed from the arrays for foreign files; with a
    workload, a hash of both (so a result of a remade workload is stale)."""
    info = dataset_info(path)
    digest = info["content_hash"] or content_hash_file(path)
    if not workload:
        return digest
    with _open(path) as f:
        if workload not in workload_names(f):
            raise UserError(f"{path} has no workload {workload!r}")
        return hashlib.sha256(f"{digest}:{workload_hash(f, workload)}".encode()).hexdigest()
