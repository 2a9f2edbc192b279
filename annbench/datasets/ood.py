"""Out-of-distribution query sets: the same base, queries from another distribution, the shift
measured (Mahalanobis distance to the base distribution, relative contrast) and stored.

Kinds, for any dataset (in the geometry the metric sees: unit vectors for angular):
- ``noise``: each query plus a random component of length ``shift`` x R in the base's
  low-variance directions (those beyond the principal components holding 99% of its
  variance; all directions where there are none), R the base's RMS distance to its mean: the
  query is lifted off the base's subspace or manifold.
- ``tilt``: each query rotated about the base mean by ``shift`` x 90 degrees in the plane of
  the base's first and last principal directions, turning its main variance out of the data.
- ``clusters``: queries around new cluster centres absent from the base: centre = base mean
  + ``shift`` x R along a random principal direction mix, queries spread around it like a
  typical neighbourhood (each query's 10th-neighbour distance, median over the queries).
For the ``wordnet-minilm`` dataset also (another kind of text, the text analogue of
text-to-image search): ``words``: a synset's lemma words ("big_cat" -> "big cat"); ``examples``:
a synset's quoted example sentences. Text queries are drawn from all of WordNet, seeded.
"""

from __future__ import annotations

import numpy as np

from annbench.datasets.query_measures import base_sample
from annbench.datasets.store import Dataset
from annbench.datasets.vectors import geometry
from annbench.errors import UserError

VECTOR_KINDS = ("noise", "tilt", "clusters")
TEXT_KINDS = ("words", "examples")
KINDS = VECTOR_KINDS + TEXT_KINDS
VARIANCE_KEPT = 0.99
QUERIES_PER_CLUSTER = 20


def _principal(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Mean, principal directions (rows, strongest first), how many hold 99% of the variance,
    and the RMS distance to the mean."""
    x = np.asarray(sample, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    total = max(float(variance.sum()), 1e-300)
    kept = int(np.searchsorted(np.cumsum(variance) / total, VARIANCE_KEPT) + 1)
    rms = float(np.sqrt(total / len(x)))
    return mean, directions, min(kept, len(directions)), rms


def _low_variance_basis(directions: np.ndarray, kept: int, dim: int) -> np.ndarray:
    """An orthonormal basis (rows) of the directions beyond the first ``kept`` principal ones."""
    if kept >= dim:
        return np.eye(dim)
    if len(directions) == dim:
        return directions[kept:]
    # fewer sample rows than dimensions: complete the basis of the principal span
    q, _ = np.linalg.qr(np.concatenate([directions[:kept].T, np.eye(dim)], axis=1))
    return q[:, kept:].T


def check_shift(shift: float, kind: str = "") -> None:
    if not np.isfinite(shift) or shift < 0:
        raise UserError(f"--shift must be a finite number >= 0, got {shift}")
    if kind == "tilt" and shift > 1:
        raise UserError(f"a tilt's --shift is a fraction of 90 degrees, 0..1; got {shift}")


def shifted_queries(
    dataset: Dataset,
    kind: str,
    shift: float,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` queries of kind ``kind`` (a vector kind) shifted by ``shift`` from ``dataset``."""
    if kind not in VECTOR_KINDS:
        raise UserError(f"unknown OOD kind {kind!r}; choose one of: {', '.join(KINDS)}")
    check_shift(shift, kind)
    sample, _ = base_sample(dataset.base, dataset.metric)
    mean, directions, kept, rms = _principal(sample)
    dim = dataset.dimension
    if kind == "clusters":
        return _cluster_queries(dataset, mean, directions[:kept], rms, shift, n, rng)
    rows = rng.choice(len(dataset.queries), size=n, replace=n > len(dataset.queries))
    queries = geometry(dataset.queries[rows], dataset.metric).astype(np.float64)
    if kind == "noise":
        basis = _low_variance_basis(directions, kept, dim)
        component = rng.standard_normal((n, len(basis))) @ basis
        component /= np.maximum(np.linalg.norm(component, axis=1, keepdims=True), 1e-300)
        return (queries + shift * rms * component).astype(np.float32)
    first = directions[0]
    # the weakest principal direction (or, where the sample spans fewer dimensions, a
    # direction outside its span), made exactly orthogonal to the first: a true rotation
    last = (
        directions[-1] if len(directions) == dim else _low_variance_basis(directions, kept, dim)[-1]
    )
    last = last - (last @ first) * first
    last /= max(float(np.linalg.norm(last)), 1e-300)
    angle = shift * np.pi / 2
    centred = queries - mean
    a, b = centred @ first, centred @ last
    rotated_a = a * np.cos(angle) - b * np.sin(angle)
    rotated_b = a * np.sin(angle) + b * np.cos(angle)
    centred += np.outer(rotated_a - a, first) + np.outer(rotated_b - b, last)
    return (centred + mean).astype(np.float32)


def _cluster_queries(dataset, mean, principal, rms, shift, n, rng) -> np.ndarray:
    n_clusters = max(1, -(-n // QUERIES_PER_CLUSTER))
    mix = rng.standard_normal((n_clusters, len(principal))) @ principal
    mix /= np.maximum(np.linalg.norm(mix, axis=1, keepdims=True), 1e-300)
    centres = mean + shift * rms * mix
    depth = min(10, dataset.ground_truth_k)
    spread = float(np.median(dataset.distances[:, depth - 1])) if depth else rms / 10
    if dataset.metric == "angular":
        spread = float(np.sqrt(2 * max(spread, 0.0)))  # 1 - cos to a chord length
    offsets = rng.standard_normal((n, len(principal))) @ principal
    offsets *= spread / np.sqrt(len(principal))
    return (centres[np.arange(n) % n_clusters] + offsets).astype(np.float32)


def ood_source(parent: str, dataset: Dataset, kind: str, shift: float, n: int, seed: int) -> dict:
    return {
        "generator": "ood",
        "parent": parent,
        "parent_source": dataset.source,
        "kind": kind,
        "shift": float(shift),
        "n": int(n),
        "seed": int(seed),
    }


def ood_dataset(
    dataset: Dataset,
    parent: str,
    kind: str,
    shift: float,
    n: int,
    seed: int,
    *,
    progress: bool | None = None,
) -> Dataset:
    """The OOD query set as a dataset over ``dataset``'s base, with exact ground truth, the
    per-query measures and, in its record, the parent queries' measures for comparison."""
    from annbench.datasets.groundtruth import with_ground_truth
    from annbench.intrinsic.difficulty import summary

    rng = np.random.default_rng(seed)
    if kind in TEXT_KINDS:
        from annbench.datasets.wordnet import text_queries

        queries = text_queries(dataset, kind, n, rng, progress=progress)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            queries = shifted_queries(dataset, kind, shift, n, rng)
            squared = (queries.astype(np.float64) ** 2).sum(axis=1)
        if not (np.isfinite(queries).all() and (squared < 1e30).all()):
            raise UserError(f"--shift {shift:g} overflows the vectors; use a smaller shift")
    shifted = Dataset(
        base=dataset.base,
        queries=queries,
        metric=dataset.metric,
        labels=dataset.labels,
        lid=dataset.lid,
        intrinsic=dataset.intrinsic,
        attributes=dataset.attributes,
        source=ood_source(parent, dataset, kind, shift, n, seed),
    )
    with_ground_truth(shifted, max(dataset.ground_truth_k, 1), progress=progress)
    shifted.query_measures_info["parent_summary"] = {
        name: summary(values) for name, values in dataset.query_measures.items()
    }
    return shifted


def write_ood_set(
    parent_path,
    parent: str,
    target,
    kind: str,
    shift: float,
    n: int,
    seed: int = 0,
    *,
    overwrite: bool = False,
    store_measures: bool = True,
    progress: bool | None = None,
) -> Dataset:
    """Write the OOD query set of the dataset at ``parent_path`` to ``target`` (the parent's
    measures computed first where missing); return it."""
    from annbench.datasets.annotate import ensure_query_measures
    from annbench.datasets.store import content_hash, write_dataset

    if kind not in KINDS:
        raise UserError(f"unknown OOD kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    check_shift(shift, kind)
    dataset = ensure_query_measures(parent_path, store=store_measures, progress=progress)
    shifted = ood_dataset(dataset, parent, kind, shift, n, seed, progress=progress)
    shifted.source["parent_content_hash"] = content_hash(
        dataset.base, dataset.queries, dataset.metric
    )
    write_dataset(target, shifted, overwrite=overwrite)
    return shifted
