"""Query sets chosen by difficulty (after Aumüller & Ceccarello): the same base, a subset of
the queries picked by one of their per-query measures.

- easy / hard: the N least / most difficult queries (for LID and Mahalanobis a high value is
  difficult, for relative contrast and expansion a low one);
- medium: the N queries around the median difficulty;
- diverse: N queries whose difficulty is spread evenly over its range: for N targets evenly
  spaced from the easiest to the hardest value, the nearest query not yet taken.

Queries whose measure is undefined (NaN) are never chosen.
"""

from __future__ import annotations

import numpy as np

from annbench.datasets.store import Dataset
from annbench.errors import UserError
from annbench.intrinsic.difficulty import difficulty, measure_name, summary

SELECTIONS = ("easy", "medium", "hard", "diverse")
BY = ("lid", "rc", "expansion")
MEASURES = (
    "lid_10",
    "lid_100",
    "rc_1",
    "rc_10",
    "rc_100",
    "expansion_10",
    "mahalanobis",
    "mahalanobis_diag",
)


def resolve_measure(by: str, available: dict[str, np.ndarray]) -> str:
    """The stored measure ``by`` names, refused in one line when unknown or absent."""
    name = measure_name(by)
    if name not in available:
        choices = ", ".join([*BY, *sorted(available or MEASURES)])
        raise UserError(f"unknown or missing query measure {by!r}; choose one of: {choices}")
    return name


def select_queries(values: np.ndarray, measure: str, select: str, n: int) -> np.ndarray:
    """Rows of the chosen queries, ordered from the easiest to the hardest."""
    if select not in SELECTIONS:
        raise UserError(f"unknown selection {select!r}; choose one of: {', '.join(SELECTIONS)}")
    hardness = difficulty(values, measure)
    rows = np.flatnonzero(~np.isnan(hardness))
    if n < 1 or n > len(rows):
        raise UserError(
            f"cannot choose {n} queries: {len(rows)} of {len(hardness)} have a defined "
            f"{measure}; use --n between 1 and {len(rows)}"
        )
    ordered = rows[np.argsort(hardness[rows], kind="stable")]
    if select == "easy":
        return ordered[:n]
    if select == "hard":
        return ordered[-n:]
    if select == "medium":
        start = max(0, min(len(ordered) - n, len(ordered) // 2 - n // 2))
        return ordered[start : start + n]
    return _diverse(ordered, hardness[ordered], n)


def _diverse(ordered: np.ndarray, sorted_values: np.ndarray, n: int) -> np.ndarray:
    finite = np.isfinite(sorted_values)
    if not finite.any():
        raise UserError(
            "no query has a finite value of this measure (queries equal to base vectors "
            "have an infinite RC); choose another --by"
        )
    low, high = sorted_values[finite].min(), sorted_values[finite].max()
    clipped = np.clip(sorted_values, low, high)
    taken = np.zeros(len(ordered), dtype=bool)
    chosen = []
    for target in np.linspace(low, high, n):
        at = int(np.searchsorted(clipped, target))
        left, right = at - 1, at
        while left >= 0 and taken[left]:
            left -= 1
        while right < len(ordered) and taken[right]:
            right += 1
        if right >= len(ordered) or (
            left >= 0 and target - clipped[left] <= clipped[right] - target
        ):
            pick = left
        else:
            pick = right
        taken[pick] = True
        chosen.append(pick)
    return ordered[np.sort(chosen)]


def query_subset(dataset: Dataset, rows: np.ndarray, source: dict) -> Dataset:
    """A dataset over the same base holding only the queries ``rows`` (their ground truth and
    measures carried over). Filter workloads are per query and are not carried over."""
    rows = np.asarray(rows, dtype=np.int64)
    parents = dataset.query_parents[rows] if dataset.query_parents is not None else rows
    measures = {name: values[rows] for name, values in dataset.query_measures.items()}
    info = {
        **dataset.query_measures_info,
        "summary": {name: summary(values) for name, values in measures.items()},
    }
    return Dataset(
        base=dataset.base,
        queries=dataset.queries[rows],
        metric=dataset.metric,
        neighbors=dataset.neighbors[rows],
        distances=dataset.distances[rows],
        labels=dataset.labels,
        lid=dataset.lid,
        intrinsic=dataset.intrinsic,
        query_labels=dataset.query_labels[rows] if dataset.query_labels is not None else None,
        attributes=dataset.attributes,
        query_measures=measures,
        query_measures_info=info,
        query_parents=parents,
        source=source,
    )


def query_set(dataset: Dataset, parent: str, select: str, by: str, n: int) -> Dataset:
    """The dataset of ``n`` queries of ``dataset`` (named ``parent``) chosen by ``select``
    on measure ``by``, its provenance saying how."""
    measure = resolve_measure(by, dataset.query_measures)
    rows = select_queries(dataset.query_measures[measure], measure, select, n)
    values = dataset.query_measures[measure][rows]
    finite = values[np.isfinite(values)]
    source = {
        "generator": "query-set",
        "parent": parent,
        "parent_source": dataset.source,
        "select": select,
        "by": measure,
        "n": int(n),
        "of": int(len(dataset.queries)),
        "range": [float(finite.min()), float(finite.max())] if len(finite) else None,
    }
    return query_subset(dataset, rows, source)


def write_query_set(
    parent_path,
    parent: str,
    target,
    select: str,
    by: str,
    n: int,
    *,
    overwrite: bool = False,
    store_measures: bool = True,
    progress: bool | None = None,
):
    """Write the query set of ``n`` queries of the dataset at ``parent_path`` to ``target``;
    the parent's measures are computed first where missing (and, with ``store_measures``,
    kept in its file). Returns the new dataset."""
    from annbench.datasets.annotate import ensure_query_measures
    from annbench.datasets.store import content_hash, dataset_info, write_dataset

    if select not in SELECTIONS:
        raise UserError(f"unknown selection {select!r}; choose one of: {', '.join(SELECTIONS)}")
    if measure_name(by) not in MEASURES:
        resolve_measure(by, {})
    n_queries = dataset_info(parent_path)["n_queries"]
    if not 1 <= n <= n_queries:
        raise UserError(
            f"cannot choose {n} queries of {n_queries}; use --n between 1 and {n_queries}"
        )
    dataset = ensure_query_measures(parent_path, store=store_measures, progress=progress)
    chosen = query_set(dataset, parent, select, by, n)
    chosen.source["parent_content_hash"] = content_hash(
        dataset.base, dataset.queries, dataset.metric
    )
    write_dataset(target, chosen, overwrite=overwrite)
    return chosen
