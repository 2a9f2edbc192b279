"""Import vectors from .npy and the texmex formats (.fvecs, .bvecs, .ivecs).

A texmex file is a sequence of records, each a little-endian int32 dimension d followed by d
components: float32 (.fvecs), uint8 (.bvecs) or int32 (.ivecs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annbench.datasets.store import Dataset
from annbench.errors import UserError

VECS_DTYPES = {".fvecs": np.dtype("<f4"), ".bvecs": np.dtype("u1"), ".ivecs": np.dtype("<i4")}
SUFFIXES = (".npy", *VECS_DTYPES)


def read_vecs(path: str | os.PathLike) -> np.ndarray:
    """Read a .fvecs/.bvecs/.ivecs file into an (n, d) array of its component type."""
    source = VecsSource(path)
    return source.rows(0, source.shape[0])


class VecsSource:
    """A texmex file read in pieces: ``rows(start, stop)`` and ``take(indices)``."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        dtype = VECS_DTYPES.get(path.suffix)
        if dtype is None:
            raise UserError(
                f"{path}: unknown vector format; expected one of {', '.join(VECS_DTYPES)}"
            )
        size = path.stat().st_size
        if size < 4:
            raise UserError(f"{path} is empty or truncated; expected {path.suffix} records")
        with open(path, "rb") as f:
            dim = int(np.frombuffer(f.read(4), dtype="<i4")[0])
        record = 4 + dim * dtype.itemsize
        if dim <= 0 or size % record:
            raise UserError(
                f"{path} is not a valid {path.suffix} file (dimension {dim}, {size} bytes "
                f"is not a whole number of {record}-byte records)"
            )
        self.path, self.dtype, self.record = path, dtype, record
        self.shape = (size // record, dim)
        self._records = np.dtype([("d", "<i4"), ("v", dtype, (dim,))])

    def rows(self, start: int, stop: int) -> np.ndarray:
        records = np.fromfile(
            self.path, dtype=self._records, count=stop - start, offset=start * self.record
        )
        return self._vectors(records)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """The rows at ``indices``, in that order (one read each)."""
        out = np.empty((len(indices), self.shape[1]), dtype=self.dtype)
        with open(self.path, "rb") as f:
            for i, row in enumerate(indices):
                f.seek(int(row) * self.record)
                out[i] = self._vectors(np.frombuffer(f.read(self.record), dtype=self._records))
        return out

    def _vectors(self, records: np.ndarray) -> np.ndarray:
        if np.any(records["d"] != self.shape[1]):
            raise UserError(f"{self.path}: records disagree on the dimension; the file is corrupt")
        return np.ascontiguousarray(records["v"]).reshape(len(records), self.shape[1])


class NpySource:
    """A C-ordered, numeric 2-d .npy file read in pieces, without loading or mapping it whole."""

    def __init__(self, path: Path, shape: tuple[int, int], dtype: np.dtype, offset: int) -> None:
        self.path, self.shape, self.dtype, self.offset = path, shape, dtype, offset

    def rows(self, start: int, stop: int) -> np.ndarray:
        row_bytes = self.shape[1] * self.dtype.itemsize
        values = np.fromfile(
            self.path,
            dtype=self.dtype,
            count=(stop - start) * self.shape[1],
            offset=self.offset + start * row_bytes,
        )
        return values.reshape(stop - start, self.shape[1])

    def take(self, indices: np.ndarray) -> np.ndarray:
        return (
            np.concatenate([self.rows(int(i), int(i) + 1) for i in indices])
            if len(indices)
            else np.empty((0, self.shape[1]), self.dtype)
        )


class ArraySource:
    """An array already in memory, behind the same interface."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape = array, array.shape

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]

    def take(self, indices: np.ndarray) -> np.ndarray:
        return self.array[indices]


def _npy_source(path: Path) -> NpySource | None:
    """A piecewise reader for a plain .npy file, or None where the file needs ``np.load``'s
    whole-file handling (and its messages): Fortran order, objects, not 2-d, truncated."""
    from numpy.lib import format as npy

    try:
        with open(path, "rb") as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npy.read_array_header_2_0(f)
            else:
                return None
            offset = f.tell()
    except (ValueError, OSError, EOFError):
        return None
    if fortran or dtype.hasobject or dtype.kind not in "iuf" or len(shape) != 2:
        return None
    if path.stat().st_size < offset + shape[0] * shape[1] * dtype.itemsize:
        return None
    return NpySource(path, shape, dtype, offset)


def open_vectors(path: str | os.PathLike) -> VecsSource | NpySource | ArraySource:
    """A reader of the vectors in a .npy or texmex file, refused in one line if unusable."""
    path = Path(path)
    _check_importable(path)
    if path.suffix != ".npy":
        return VecsSource(path)
    return _npy_source(path) or ArraySource(read_array(path))


def _check_importable(path: Path) -> None:
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if not path.is_file():
        raise UserError(f"{path} is not a file; give the vector file itself")
    if path.suffix not in SUFFIXES:
        raise UserError(
            f"{path}: cannot import {path.suffix or 'a file without suffix'}; "
            f"supported: {', '.join(SUFFIXES)}"
        )


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
    _check_importable(path)
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


IMPORT_BLOCK_BYTES = 32 << 20  # float32 bytes of base vectors read at a time


@dataclass
class ImportPlan:
    """What an import writes: the base in blocks (``parts``), queries, labels, given ids."""

    source: VecsSource | NpySource | ArraySource
    queries: np.ndarray
    labels: np.ndarray | None
    keep: np.ndarray | None  # base rows that stay in the base (None: all)
    neighbors: np.ndarray | None
    provenance: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int]:
        n = self.source.shape[0] if self.keep is None else int(self.keep.sum())
        return n, self.source.shape[1]

    def parts(self) -> Iterator[tuple[str, np.ndarray]]:
        """("labels", ...), the base blocks as float32, then ("queries", ...)."""
        if self.labels is not None:
            yield "labels", self.labels
        n, dim = self.source.shape
        rows = max(1, IMPORT_BLOCK_BYTES // (4 * dim))
        for start in range(0, n, rows):
            with np.errstate(over="ignore"):  # too large for float32: refused as infinite
                block = self.source.rows(start, min(n, start + rows))
                block = block.astype(np.float32, copy=False)
            if self.keep is not None:
                self._check_finite(block, start)  # named by its row in the source file
                block = block[self.keep[start : start + rows]]
            if len(block):
                yield "base", block
        yield "queries", self.queries

    def _check_finite(self, block: np.ndarray, start: int) -> None:
        from annbench.datasets.validity import first_nonfinite

        first, count = first_nonfinite(block)
        if count:
            raise UserError(
                f"{self.provenance['imported_from']}: row {start + first} holds NaN or "
                "infinite values; drop or repair such rows first"
            )


def plan_import(
    base_path: str | os.PathLike,
    *,
    metric: str,
    queries_path: str | os.PathLike | None = None,
    n_queries: int = 1000,
    seed: int = 0,
    ground_truth_path: str | os.PathLike | None = None,
    labels_path: str | os.PathLike | None = None,
) -> ImportPlan:
    """Check an import and read what it needs in memory (queries, labels, given ids); the
    base is read later, block by block (``ImportPlan.parts``)."""
    from annbench.datasets.validity import check_shapes

    source = open_vectors(base_path)
    if len(source.shape) != 2:
        raise UserError(f"{base_path} holds an array of shape {source.shape}; expected (n, d)")
    n = source.shape[0]
    labels = read_array_1d(labels_path) if labels_path else None
    if labels is not None and len(labels) != n:
        raise UserError(
            f"{labels_path} holds {len(labels)} labels for {n} vectors in {base_path}; "
            "give exactly one label per vector"
        )
    provenance: dict = {"imported_from": str(base_path), "seed": seed}
    keep = None
    if queries_path is not None:
        with np.errstate(over="ignore"):
            queries = read_array(queries_path).astype(np.float32)
        provenance["queries_from"] = str(queries_path)
    else:
        if not 0 < n_queries < n:
            raise UserError(
                f"cannot hold out {n_queries} queries from {n} vectors; "
                "pass --n-queries below the number of vectors or give --queries FILE"
            )
        if ground_truth_path is not None:
            raise UserError("a ground-truth file needs a query file (--queries) to refer to")
        order = np.random.default_rng(seed).permutation(n)
        with np.errstate(over="ignore"):
            queries = source.take(order[:n_queries]).astype(np.float32)
        keep = np.ones(n, dtype=bool)
        keep[order[:n_queries]] = False
        del order
        if labels is not None:
            labels = labels[keep]
        provenance["n_queries_held_out"] = n_queries
    check_shapes(metric, (n - len(queries) * (keep is not None), source.shape[1]), queries.shape)
    neighbors = None
    if ground_truth_path is not None:
        ids = read_array(ground_truth_path).astype(np.int64)
        if len(ids) != len(queries) or ids.min() < 0 or ids.max() >= n:
            raise UserError(
                f"{ground_truth_path}: ground truth of shape {ids.shape} with ids in "
                f"[{ids.min()}, {ids.max()}] does not fit {len(queries)} queries and "
                f"{n} base vectors"
            )
        neighbors = ids
        provenance["ground_truth_from"] = str(ground_truth_path)
    return ImportPlan(source, queries, labels, keep, neighbors, provenance)


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
    without it the caller computes ground truth. (``plan_import`` is the same import read in
    blocks, for files larger than memory.)
    """
    plan = plan_import(
        base_path,
        metric=metric,
        queries_path=queries_path,
        n_queries=n_queries,
        seed=seed,
        ground_truth_path=ground_truth_path,
        labels_path=labels_path,
    )
    blocks = [array for kind, array in plan.parts() if kind == "base"]
    base = np.concatenate(blocks) if len(blocks) != 1 else blocks[0]
    del blocks
    dataset = Dataset(
        base=base,
        queries=plan.queries,
        metric=metric,
        labels=plan.labels,
        source=plan.provenance,
    )
    if plan.neighbors is not None:
        from annbench.datasets.groundtruth import refine

        dataset.neighbors, dataset.distances = refine(base, plan.queries, plan.neighbors, metric)
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
