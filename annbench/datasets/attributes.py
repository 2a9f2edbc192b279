"""Attributes for any dataset, and filter workloads over them with a target selectivity and a
correlation between a query's filter and its neighbourhood.

Attributes (``make_attributes``), seeded, spatially coherent so that a filter can be chosen
near a query or far from it:

- ``value``: the integers 0 .. n-1, a vector's rank along the data's first principal axis
  (uniform, and neighbours have near values);
- ``label``: the dataset's own labels (blob membership, WordNet category) where it has them;
  otherwise Zipf-sized labels (frequency of the j-th ~ 1 / (j+1)^zipf) laid out as slabs
  along the second principal axis;
- ``tags``: a vocabulary of tags, tag j carried by the base vectors nearest a random anchor,
  as many as a Zipf frequency gives (the first tag covers ``tag_cover`` of the base, the j-th
  tag_cover / (j+1)^tag_zipf: with the default 0.5 over 64 tags, single tags span 0.06-0.5
  and pairs of tags, their intersections, the selectivities below).

A filter workload (``make_filter_workload``) gives every query one filter of a kind whose
passing set is ``selectivity`` of the base (within ``TOLERANCE``, relative) and chosen by
``correlation``: positive, the candidate whose nearest passing vector is nearest the query;
negative, the one whose nearest passing vector is farthest; none, a seeded random candidate.
Ranges are built to size: a window of the ``value`` order, centred on the query's position
(positive), at the far end (negative) or anywhere (none). Labels and tag sets (one tag or two)
are candidates where their frequency is within the tolerance of the target; ``selectivity``
None (labels only) takes every label: on data whose queries know their own category (WordNet's
lexicographer files) positive is "within the query's own category" and none "within another
category".

Each query's realised selectivity and its alpha, the 1-based rank in the unfiltered distance
order of its ``alpha_k``-th passing vector (small: the filter keeps the query's neighbours;
large: they lie far away), are stored with the workload's exact filtered ground truth.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from annbench.datasets.filters import (
    CORRELATIONS,
    KINDS,
    Attributes,
    FilterWorkload,
    QueryFilters,
)
from annbench.datasets.groundtruth import normalized
from annbench.datasets.store import Dataset
from annbench.errors import UserError

TOLERANCE = 0.10  # realised selectivity of a label or tag filter: within 10% of the target
MAX_CANDIDATES = 48  # label or tag-set candidates scored per query
ALPHA_K = 10
GATHER_SHARE = 1 / 16  # a passing subset at most this share of the base is gathered, not selected
GROUND_TRUTH_K = 100
AXIS_SAMPLE = 20_000  # rows the principal axes are estimated from
BLOCK_BYTES = 64 << 20


def workload_name(kind: str, selectivity: float | None, correlation: str) -> str:
    target = "any" if selectivity is None else f"{selectivity:g}"
    return f"{kind}-s{target}-{correlation}"


def make_attributes(
    dataset: Dataset,
    *,
    seed: int = 0,
    n_labels: int = 100,
    zipf: float = 1.0,
    vocabulary: int = 64,
    tag_cover: float = 0.5,
    tag_zipf: float = 0.5,
) -> Attributes:
    """Label, tags and value columns for ``dataset`` (see the module docstring)."""
    if n_labels < 1 or vocabulary < 1 or min(zipf, tag_zipf) < 0 or not 0 < tag_cover <= 1:
        raise UserError(
            "attributes need n_labels >= 1, vocabulary >= 1, Zipf exponents >= 0 and "
            "0 < tag_cover <= 1"
        )
    rng = np.random.default_rng(seed)
    base = _comparable(dataset.base, dataset.metric)
    n = len(base)
    axes = _principal_directions(base, rng)
    value = _ranks(base @ axes[:, 0])
    if dataset.labels is not None:
        label = np.asarray(dataset.labels, dtype=np.int64)
    else:
        label = _zipf_slabs(base @ axes[:, min(1, axes.shape[1] - 1)], n_labels, zipf)
    indptr, indices = _coherent_tags(base, dataset.metric, vocabulary, tag_zipf, tag_cover, rng)
    return Attributes(
        n=n,
        label=label,
        value=value,
        tags_indptr=indptr,
        tags_indices=indices,
        vocabulary=vocabulary,
    )


def make_filter_workload(
    dataset: Dataset,
    attributes: Attributes,
    kind: str,
    selectivity: float | None,
    correlation: str,
    *,
    seed: int = 0,
    k: int = GROUND_TRUTH_K,
    alpha_k: int = ALPHA_K,
) -> FilterWorkload:
    """One filter per query (see the module docstring) with its exact filtered ground truth."""
    if kind not in KINDS:
        raise UserError(f"unknown filter kind {kind!r}; kinds: {', '.join(KINDS)}")
    if correlation not in CORRELATIONS:
        raise UserError(
            f"unknown correlation {correlation!r}; choose from {', '.join(CORRELATIONS)}"
        )
    if selectivity is None and kind != "label":
        raise UserError(f"a {kind} filter needs a target selectivity in (0, 1]")
    if selectivity is not None and not 0 < selectivity <= 1:
        raise UserError(f"selectivity {selectivity!r} is outside (0, 1]")
    attributes.require(kind)
    rng = np.random.default_rng([seed, KINDS.index(kind), CORRELATIONS.index(correlation)])
    base = _comparable(dataset.base, dataset.metric)
    queries = _comparable(dataset.queries, dataset.metric)
    if kind == "range":
        values = _range_filters(
            base, queries, dataset.metric, attributes, selectivity, correlation, rng
        )
    elif _own_labels(dataset, attributes, kind, selectivity):
        values = _by_own_label(base, queries, dataset, attributes, correlation, rng)
    else:
        candidates = _candidates(attributes, kind, selectivity)
        values = _chosen(base, queries, dataset.metric, candidates, correlation, rng)
    filters = QueryFilters(kind, values)
    neighbors, distances = filtered_ground_truth(dataset, attributes, filters, k)
    passing, alpha = _passing_and_alpha(base, queries, dataset.metric, attributes, filters, alpha_k)
    info = {
        "target_selectivity": selectivity,
        "correlation": correlation,
        "seed": seed,
        "alpha_k": alpha_k,
    }
    return FilterWorkload(
        name=workload_name(kind, selectivity, correlation),
        filters=filters,
        neighbors=neighbors,
        distances=distances,
        selectivity=passing / attributes.n,
        alpha=alpha,
        info=info,
    )


def filtered_ground_truth(
    dataset: Dataset, attributes: Attributes, filters: QueryFilters, k: int = GROUND_TRUTH_K
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k among the passing vectors of every query, by brute force over the passing
    subset: queries sharing a filter are answered together; a small subset (at most
    ``GATHER_SHARE`` of the base) is gathered and scanned, a large one scanned in place by a
    flat faiss index with a bitmap selector (gathering half the base per filter would cost
    more than the scan). The winners are re-scored in float64 and sorted by (distance, id), as
    the unfiltered ground truth is. Rows are padded with -1 / inf where fewer than k pass."""
    import faiss

    from annbench.datasets.groundtruth import refine

    base = _comparable(dataset.base, dataset.metric)
    queries = _comparable(dataset.queries, dataset.metric)
    metric = faiss.METRIC_L2 if dataset.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    index = None
    found = np.full((len(filters), k), -1, dtype=np.int64)
    for group in filters.groups():
        mask = filters.mask(attributes, int(group[0]))
        passing = np.flatnonzero(mask)
        width = min(k, len(passing))
        if width == 0:
            continue
        if len(passing) <= GATHER_SHARE * len(base):
            ids = faiss.knn(queries[group], base[passing], width, metric=metric)[1]
            found[group, :width] = passing[ids]
            continue
        if index is None:
            index = faiss.IndexFlat(base.shape[1], metric)
            index.add(base)
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap) * 8, faiss.swig_ptr(bitmap))
        params = faiss.SearchParameters(sel=selector)
        found[group, :width] = index.search(queries[group], width, params=params)[1]
    neighbors, distances = refine(dataset.base, dataset.queries, found, dataset.metric)
    return neighbors, np.where(neighbors >= 0, distances, np.inf).astype(np.float32)


# --- geometry --------------------------------------------------------------------------------


def _comparable(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Vectors as the metric sees them (unit length for angular), float32."""
    return normalized(vectors) if metric == "angular" else np.asarray(vectors, np.float32)


def _scores(queries: np.ndarray, base: np.ndarray, metric: str) -> np.ndarray:
    """(len(queries), n): smaller is closer (squared L2, or the negated inner product)."""
    products = queries @ base.T
    if metric == "euclidean":
        return (base * base).sum(axis=1)[None, :] - 2 * products
    return -products


def _query_blocks(nq: int, n: int):
    rows = max(1, BLOCK_BYTES // (4 * max(n, 1)))
    for start in range(0, nq, rows):
        yield slice(start, min(start + rows, nq))


def _principal_directions(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from annbench.intrinsic.pca import principal_axes

    sample = base if len(base) <= AXIS_SAMPLE else base[rng.choice(len(base), AXIS_SAMPLE)]
    _, _, axes = principal_axes(sample)
    return axes[:, :2].astype(np.float32)


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


def _zipf_sizes(total: int, count: int, exponent: float, first: float | None = None) -> np.ndarray:
    """``count`` sizes summing to ``total`` (or, with ``first``, starting at first * total) in
    Zipf proportions."""
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    shares = weights / weights.sum() if first is None else first * weights / weights[0]
    sizes = np.floor(shares * total).astype(np.int64)
    if first is None:
        sizes[: total - sizes.sum()] += 1
    return np.maximum(sizes, 1)


def _zipf_slabs(projection: np.ndarray, n_labels: int, exponent: float) -> np.ndarray:
    n = len(projection)
    sizes = _zipf_sizes(n, min(n_labels, n), exponent)
    labels = np.repeat(np.arange(len(sizes)), sizes)[:n]
    out = np.empty(n, dtype=np.int64)
    out[np.argsort(projection, kind="stable")] = labels
    return out


def _coherent_tags(
    base: np.ndarray,
    metric: str,
    vocabulary: int,
    exponent: float,
    cover: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(base)
    anchors = base[rng.choice(n, size=min(vocabulary, n), replace=False)]
    sizes = np.minimum(_zipf_sizes(n, len(anchors), exponent, first=cover), n)
    members = np.zeros((n, vocabulary), dtype=bool)
    scores = _scores(anchors, base, metric)
    for tag, size in enumerate(sizes):
        members[np.argpartition(scores[tag], size - 1)[:size], tag] = True
    rows, tags = np.nonzero(members)
    indptr = np.concatenate([[0], np.cumsum(members.sum(axis=1))]).astype(np.int64)
    return indptr, tags.astype(np.int64)


# --- choosing filters ------------------------------------------------------------------------


def _range_filters(base, queries, metric, attributes, selectivity, correlation, rng):
    """[lo, hi) windows of ``value`` holding selectivity * n vectors."""
    n = attributes.n
    width = max(1, int(round(selectivity * n)))
    values = np.sort(attributes.value)
    # the query's position along the value order: where its nearest base vector sits
    position = np.empty(len(queries), dtype=np.int64)
    for rows in _query_blocks(len(queries), n):
        nearest = np.argmin(_scores(queries[rows], base, metric), axis=1)
        position[rows] = np.searchsorted(values, attributes.value[nearest])
    if correlation == "positive":
        lo = np.clip(position - width // 2, 0, n - width)
    elif correlation == "negative":
        lo = np.where(position < n / 2, n - width, 0)
    else:
        lo = rng.integers(0, n - width + 1, size=len(queries))
    return np.stack([values[lo], np.append(values, values[-1] + 1)[lo + width]], axis=1)


def _candidates(attributes: Attributes, kind: str, selectivity: float | None) -> list:
    """(filter values, passing ids) of every label or tag set near the target selectivity."""
    n = attributes.n
    near = (
        (lambda size: True)
        if selectivity is None
        else (lambda size: abs(size / n - selectivity) <= TOLERANCE * selectivity)
    )
    found = []
    if kind == "label":
        for value in np.unique(attributes.label):
            passing = np.flatnonzero(attributes.label == value)
            if near(len(passing)):
                found.append((int(value), passing))
    else:
        matrix = attributes.tag_matrix()
        sizes = matrix.sum(axis=0)
        pair_sizes = matrix.T.astype(np.int32) @ matrix.astype(np.int32)
        for a in range(attributes.vocabulary):
            if near(sizes[a]) and sizes[a]:
                found.append(([a, -1], np.flatnonzero(matrix[:, a])))
            for b in range(a + 1, attributes.vocabulary):
                if pair_sizes[a, b] and near(pair_sizes[a, b]):
                    found.append(([a, b], np.flatnonzero(matrix[:, a] & matrix[:, b])))
    if not found:
        raise UserError(
            f"no {kind} filter passes {selectivity:g} of the base within {TOLERANCE:.0%} "
            f"({_nearest_available(attributes, kind, selectivity)}); choose another "
            "selectivity or a range filter, which can be sized to any"
        )
    if len(found) > MAX_CANDIDATES:
        keep = np.random.default_rng(len(found)).choice(len(found), MAX_CANDIDATES, False)
        found = [found[i] for i in sorted(keep)]
    return found


def _nearest_available(attributes: Attributes, kind: str, selectivity: float) -> str:
    if kind == "label":
        sizes = np.unique(attributes.label, return_counts=True)[1]
    else:
        matrix = attributes.tag_matrix()
        sizes = np.concatenate([matrix.sum(axis=0), (matrix.T.astype(np.int32) @ matrix).ravel()])
    shares = sizes[sizes > 0] / attributes.n
    nearest = shares[np.argmin(np.abs(shares - selectivity))]
    return f"the nearest passes {nearest:.3g}"


def _chosen(base, queries, metric, candidates, correlation, rng) -> np.ndarray:
    """Each query's filter among the candidates, by its nearest passing vector."""
    chosen = np.empty(len(queries), dtype=np.int64)
    if correlation == "none":
        chosen[:] = rng.integers(0, len(candidates), size=len(queries))
    else:
        for rows in _query_blocks(len(queries), len(base)):
            scores = _scores(queries[rows], base, metric)
            nearest = np.stack([scores[:, passing].min(axis=1) for _, passing in candidates], 1)
            pick = np.argmin if correlation == "positive" else np.argmax
            chosen[rows] = pick(nearest, axis=1)
    return np.array([candidates[c][0] for c in chosen], dtype=np.int64)


def _own_labels(dataset: Dataset, attributes: Attributes, kind: str, selectivity) -> bool:
    """Labels of any selectivity on data whose queries know their own category (WordNet)."""
    return (
        kind == "label"
        and selectivity is None
        and dataset.query_labels is not None
        and dataset.labels is not None
        and np.array_equal(attributes.label, dataset.labels)
    )


def _by_own_label(base, queries, dataset, attributes, correlation, rng) -> np.ndarray:
    """Positive: the query's own category; none: another category at random; negative: the
    category whose nearest member is farthest from the query."""
    own = np.asarray(dataset.query_labels, dtype=np.int64)
    if correlation == "positive":
        return own
    labels = np.unique(attributes.label)
    if correlation == "none":
        others = [labels[labels != label] for label in own]
        return np.array([rng.choice(choices) for choices in others], dtype=np.int64)
    candidates = [(int(label), np.flatnonzero(attributes.label == label)) for label in labels]
    return _chosen(base, queries, dataset.metric, candidates, "negative", rng)


def _passing_and_alpha(base, queries, metric, attributes, filters, alpha_k):
    """Per query: how many base vectors pass its filter, and its alpha (-1 where fewer than
    ``alpha_k`` pass), in one pass over the queries' unfiltered scores."""
    passing = np.zeros(len(queries), dtype=np.int64)
    alpha = np.full(len(queries), -1, dtype=np.int64)
    for rows in _query_blocks(len(queries), len(base)):
        scores = _scores(queries[rows], base, metric)
        for row, i in enumerate(range(rows.start, rows.stop)):
            passing_scores = scores[row, filters.mask(attributes, i)]
            passing[i] = len(passing_scores)
            if len(passing_scores) >= alpha_k:
                kth = np.partition(passing_scores, alpha_k - 1)[alpha_k - 1]
                alpha[i] = int((scores[row] < kth).sum()) + 1
    return passing, alpha


def add_filter_workloads(
    dataset: Dataset,
    kinds: list[str],
    selectivities: list[float | None],
    correlations: list[str],
    *,
    seed: int = 0,
    warn: Callable[[str], None] | None = None,
) -> list[str]:
    """Add attributes (where missing) and one workload per (kind, selectivity, correlation)
    to ``dataset``; a label or tag target no candidate reaches is skipped with a warning.
    Returns the names added."""
    if dataset.attributes is None:
        dataset.attributes = make_attributes(dataset, seed=seed)
    added = []
    for kind in kinds:
        for selectivity in selectivities:
            for correlation in correlations:
                try:
                    workload = make_filter_workload(
                        dataset, dataset.attributes, kind, selectivity, correlation, seed=seed
                    )
                except UserError as exc:
                    if len(kinds) * len(selectivities) == 1 or warn is None:
                        raise
                    warn(f"{workload_name(kind, selectivity, correlation)} skipped: {exc}")
                    continue
                dataset.workloads[workload.name] = workload
                added.append(workload.name)
    if not added:
        raise UserError("no filter workload could be made; see the warnings above")
    return added
