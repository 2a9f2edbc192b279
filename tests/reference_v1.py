"""A frozen copy of the dataset-making code as it was before issue 20's block-wise rewrite
(commit 5b8bc62): the four generators, the texmex/npy import, exact ground truth with the
mean distances, ``refine`` and the whole-array writer, copied verbatim.

The equality tests make the same seeded datasets with this reference and with the live code,
in the same process, and require every stored array and attribute to be equal. Do not edit
the copied functions: they define "unchanged". They call the live ``pair_distances`` kernel,
``attach_measures`` and ``annotate_intrinsic``, which the rewrite does not touch.
"""

# ruff: noqa
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from annbench.datasets.filter_layout import write_filters
from annbench.datasets.store import Dataset
from annbench.datasets.vectors import as_float32 as _as_float32
from annbench.datasets.vectors import normalized
from annbench.errors import UserError
from annbench.errors.files import atomic_path

Arrays = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]
VECS_DTYPES = {".fvecs": np.dtype("<f4"), ".bvecs": np.dtype("u1"), ".ivecs": np.dtype("<i4")}
SUFFIXES = (".npy", *VECS_DTYPES)
BLOCK_BYTES = 64 << 20
PAIR_BLOCK = 1 << 24
MEAN_PAIR_BUDGET = 2_000_000_000
MEAN_SAMPLE_SEED = 0
FORMAT_VERSION = 1
GENERATORS = {"gauss": None, "blobs": None, "subspace": None, "manifold": None}


def gauss(rng: np.random.Generator, n: int = 10_000, n_queries: int = 100, dim: int = 32) -> Arrays:
    """Isotropic standard normal base and queries."""
    base = rng.standard_normal((n, dim), dtype=np.float32)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    return base, queries, None


def blobs(
    rng: np.random.Generator,
    n: int = 10_000,
    n_queries: int = 100,
    dim: int = 32,
    n_clusters: int = 10,
    cluster_std: float = 1.0,
    center_spread: float = 1.0,
) -> Arrays:
    """A mixture of Gaussian clusters; ``labels`` holds each base vector's cluster.

    Centres are drawn from N(0, center_spread^2 I) and points from N(centre, cluster_std^2 I).
    With both spreads equal the clusters overlap, which keeps graph indexes honest.
    Queries come from the same mixture (their clusters are not stored).
    """
    if n_clusters < 1:
        raise UserError("blobs needs n_clusters >= 1")
    centers = rng.normal(0.0, center_spread, size=(n_clusters, dim)).astype(np.float32)
    labels = rng.integers(0, n_clusters, size=n)
    query_labels = rng.integers(0, n_clusters, size=n_queries)
    base = centers[labels] + rng.normal(0.0, cluster_std, size=(n, dim)).astype(np.float32)
    queries = centers[query_labels] + rng.normal(0.0, cluster_std, size=(n_queries, dim)).astype(
        np.float32
    )
    return base, queries, labels.astype(np.int64)


def _check_subspace(dim: int, d_int: int, noise: float) -> None:
    if not 1 <= d_int <= dim:
        raise UserError(f"d_int={d_int} must be between 1 and the ambient dimension dim={dim}")
    if noise < 0:
        raise UserError(f"noise must be >= 0, got {noise}")


def subspace(
    rng: np.random.Generator,
    n: int = 10_000,
    n_queries: int = 100,
    dim: int = 1024,
    d_int: int = 16,
    noise: float = 0.0,
) -> Arrays:
    """Points X = C U on a random d_int-dimensional linear subspace of R^dim.

    U holds d_int orthonormal vectors (Gram-Schmidt, via QR), C is standard normal; optional
    isotropic noise of standard deviation ``noise`` lifts the data off the subspace.
    """
    _check_subspace(dim, d_int, noise)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, d_int)))
    points = rng.standard_normal((n + n_queries, d_int)) @ basis.T
    if noise:
        points += rng.normal(0.0, noise, size=points.shape)
    points = points.astype(np.float32)
    return points[:n], points[n:], None


def manifold(
    rng: np.random.Generator,
    n: int = 10_000,
    n_queries: int = 100,
    dim: int = 128,
    d_int: int = 4,
    noise: float = 0.0,
    frequency: float = 1.0,
) -> Arrays:
    """A curved d_int-dimensional manifold in R^dim: a smooth random map of a normal latent.

    f(z) = A sin(W z + b) with random frequencies W ~ N(0, frequency^2), phases b and mixing
    A: locally d_int-dimensional, but curved, so PCA needs many more than d_int components.
    """
    _check_subspace(dim, d_int, noise)
    features = 2 * dim
    frequencies = rng.normal(0.0, frequency, size=(d_int, features))
    phases = rng.uniform(0.0, 2 * np.pi, size=features)
    mixing = rng.standard_normal((features, dim)) / np.sqrt(features)
    latent = rng.standard_normal((n + n_queries, d_int))
    points = np.sin(latent @ frequencies + phases) @ mixing
    if noise:
        points += rng.normal(0.0, noise, size=points.shape)
    points = points.astype(np.float32)
    return points[:n], points[n:], None


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


def _block_rows(dimension: int) -> int:
    return max(1024, BLOCK_BYTES // (4 * max(dimension, 1)))


def exact_knn_with_means(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    *,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """``exact_knn`` plus each query's mean distance to the base, from the same pass over
    the base, and a record of which base vectors that mean covers."""
    sample = mean_distance_sample(len(base), len(queries), metric)
    sums = np.zeros(len(queries))
    _, candidates = scan(
        base, queries, metric, k, progress=progress, distance_sums=sums, sample=sample
    )
    ids, distances = refine(base, queries, candidates, metric)
    record = sample_record(len(base), sample)
    return ids, distances, sums / record["rows"], record


def mean_distances(
    base: np.ndarray, queries: np.ndarray, metric: str, *, progress: bool | None = None
) -> tuple[np.ndarray, dict]:
    """Each query's mean distance to the base (for files whose ground truth came ready-made)."""
    from tqdm.auto import tqdm

    sample = mean_distance_sample(len(base), len(queries), metric)
    query_block = normalized(queries) if metric == "angular" else _as_float32(queries)
    sums = np.zeros(len(queries))
    rows = _block_rows(base.shape[1])
    for start in tqdm(
        range(0, len(base), rows), desc="mean distance", unit="block", disable=progress is False
    ):
        block = base[start : start + rows]
        if sample is not None:
            block = block[sample[start : start + rows]]
        block = normalized(block) if metric == "angular" else _as_float32(block)
        sums += block_distance_sums(query_block, block, metric)
    record = sample_record(len(base), sample)
    return sums / record["rows"], record


def scan(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    *,
    offset: int = 0,
    progress: bool | None = None,
    distance_sums: np.ndarray | None = None,
    sample: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """faiss scores and ids (plus ``offset``) of each query's k best base vectors, unordered.

    Scores are squared L2 for euclidean (smaller is closer) and inner products otherwise
    (larger is closer); ``merge_scans`` combines scans of disjoint parts of a base.

    With ``distance_sums`` (float64, one per query) each query's distances, in the dataset's
    metric, to the scanned base vectors (those ``sample`` marks, if given) are added to it in
    the same pass, for the mean distance that relative contrast needs.
    """
    import faiss
    from tqdm.auto import tqdm

    if metric not in ("euclidean", "angular", "ip"):
        raise UserError(f"unsupported metric {metric!r} for ground truth")
    n = len(base)
    k = min(k, n)
    if k < 1:
        raise UserError("ground truth needs k >= 1 and a non-empty base")
    faiss_metric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    query_block = normalized(queries) if metric == "angular" else _as_float32(queries)
    heap = faiss.ResultHeap(len(queries), k, keep_max=metric != "euclidean")
    rows = _block_rows(base.shape[1])
    starts = range(0, n, rows)
    for start in tqdm(starts, desc="exact k-NN", unit="block", disable=progress is False):
        block = base[start : start + rows]
        block = normalized(block) if metric == "angular" else _as_float32(block)
        scores, ids = faiss.knn(query_block, block, min(k, len(block)), metric=faiss_metric)
        heap.add_result(scores, ids + start + offset)
        if distance_sums is not None:
            chosen = block if sample is None else block[sample[start : start + rows]]
            distance_sums += block_distance_sums(query_block, chosen, metric)
    heap.finalize()
    return heap.D, heap.I


def block_distance_sums(queries: np.ndarray, block: np.ndarray, metric: str) -> np.ndarray:
    """Per query, the sum of its distances to the rows of ``block`` (queries and block already
    normalised for angular). angular and ip sums follow from the block's column sum; the
    euclidean one needs every pair (faiss's BLAS kernel, in query slices)."""
    import faiss

    if len(block) == 0:
        return np.zeros(len(queries))
    column_sum = block.sum(axis=0, dtype=np.float64)
    if metric == "angular":
        return len(block) - queries.astype(np.float64) @ column_sum
    if metric == "ip":
        return -(queries.astype(np.float64) @ column_sum)
    sums = np.empty(len(queries))
    step = max(1, PAIR_BLOCK // len(block))
    for start in range(0, len(queries), step):
        squared = faiss.pairwise_distances(queries[start : start + step], block)
        sums[start : start + step] = np.sqrt(np.maximum(squared, 0), dtype=np.float32).sum(
            axis=1, dtype=np.float64
        )
    return sums


def mean_distance_sample(n: int, n_queries: int, metric: str) -> np.ndarray | None:
    """Which base vectors the mean distance runs over: all (None) unless the metric is
    euclidean and n x n_queries exceeds ``MEAN_PAIR_BUDGET``; then a seeded uniform sample."""
    if metric != "euclidean" or n * n_queries <= MEAN_PAIR_BUDGET:
        return None
    rows = max(1, MEAN_PAIR_BUDGET // n_queries)
    chosen = np.random.default_rng(MEAN_SAMPLE_SEED).choice(n, size=rows, replace=False)
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return mask


def sample_record(n: int, sample: np.ndarray | None) -> dict:
    """How the mean distance was taken, for the dataset file's provenance."""
    if sample is None:
        return {"mean_distance_over": "all", "rows": int(n)}
    return {
        "mean_distance_over": "sample",
        "rows": int(sample.sum()),
        "of": int(n),
        "seed": MEAN_SAMPLE_SEED,
    }


def refine(
    base: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the distances of candidate ``ids`` exactly (float64, in one compiled pass)
    and sort each row by (distance, id)."""
    from annbench.datasets._distance_kernels import pair_distances

    codes = {"euclidean": 0, "ip": 1, "angular": 2}
    ids = np.asarray(ids, dtype=np.int64)
    distances = pair_distances(
        np.ascontiguousarray(base), np.ascontiguousarray(queries), ids, codes[metric]
    )
    order = np.lexsort((ids, distances), axis=1)
    sorted_ids = np.take_along_axis(ids, order, axis=1)
    sorted_distances = np.take_along_axis(distances, order, axis=1)
    return sorted_ids.astype(np.int64), sorted_distances.astype(np.float32)


def with_ground_truth(dataset, k: int = 100, *, progress: bool | None = None):
    """The dataset with exact top-``k`` neighbours and distances filled in, and the
    per-query difficulty measures they allow."""
    from annbench.datasets.query_measures import attach_measures

    ids, distances, means, record = exact_knn_with_means(
        dataset.base, dataset.queries, dataset.metric, k, progress=progress
    )
    dataset.neighbors, dataset.distances = ids, distances
    attach_measures(dataset, means, record)
    dataset.check()
    return dataset


def save_with_ground_truth(
    dataset, path, *, k: int = 100, overwrite: bool = False, progress: bool | None = None
):
    """Compute ground truth (and the per-query measures) if missing and write the dataset
    file; return its path."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --force to replace it")
    if dataset.neighbors is None:
        with_ground_truth(dataset, k, progress=progress)
    elif not dataset.query_measures:  # ground truth given (imported): measures from it
        from annbench.datasets.query_measures import attach_measures

        means, record = mean_distances(
            dataset.base, dataset.queries, dataset.metric, progress=progress
        )
        attach_measures(dataset, means, record)
    write_dataset(path, dataset, overwrite=overwrite)
    return path


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
    base = np.ascontiguousarray(dataset.base, dtype=np.float32)
    queries = np.ascontiguousarray(dataset.queries, dtype=np.float32)
    digest = content_hash(base, queries, dataset.metric)
    with atomic_path(path) as tmp:
        _write_h5(tmp, dataset, base, queries, digest)
    return digest


def _write_h5(path: Path, dataset: Dataset, base, queries, digest: str) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = dataset.metric
        f.attrs["point_type"] = "float"
        f.attrs["dimension"] = dataset.dimension
        f.attrs["annbench_format_version"] = FORMAT_VERSION
        f.attrs["annbench_source"] = json.dumps(dataset.source, sort_keys=True)
        f.attrs["annbench_content_hash"] = digest
        f.create_dataset("train", data=base)
        f.create_dataset("test", data=queries)
        f.create_dataset("neighbors", data=dataset.neighbors.astype(np.int64))
        f.create_dataset("distances", data=dataset.distances.astype(np.float32))
        if dataset.labels is not None:
            f.create_dataset("labels", data=np.asarray(dataset.labels, dtype=np.int64))
        if dataset.lid is not None:
            f.create_dataset("lid", data=np.asarray(dataset.lid, dtype=np.float64))
        if dataset.query_labels is not None:
            f.create_dataset("query_labels", data=np.asarray(dataset.query_labels, np.int64))
        if dataset.query_parents is not None:
            f.create_dataset("query_parents", data=np.asarray(dataset.query_parents, np.int64))
        if dataset.query_measures:
            group = f.create_group("query_measures")
            group.attrs["info"] = json.dumps(dataset.query_measures_info, sort_keys=True)
            for name, values in sorted(dataset.query_measures.items()):
                group.create_dataset(name, data=np.asarray(values, dtype=np.float64))
        f.attrs["annbench_intrinsic"] = json.dumps(dataset.intrinsic, sort_keys=True)
        write_filters(f, dataset.attributes, dataset.workloads)


GENERATORS.update(gauss=gauss, blobs=blobs, subspace=subspace, manifold=manifold)


def make(name: str, params: dict, *, seed: int = 0, metric: str = "euclidean") -> Dataset:
    """``make_synthetic`` as it was, for fully given parameters."""
    base, queries, labels = GENERATORS[name](np.random.default_rng(seed), **params)
    source = {"generator": name, "params": params, "seed": seed}
    dataset = Dataset(base=base, queries=queries, metric=metric, labels=labels, source=source)
    if name in ("subspace", "manifold"):
        from annbench.datasets.annotate import annotate_intrinsic

        annotate_intrinsic(dataset, progress=False)
    return dataset
