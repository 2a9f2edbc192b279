"""The ``attributes/`` and ``workloads/`` groups of a dataset file (plain h5py can read them):

- ``attributes/label`` (n,) int64; ``attributes/value`` (n,) int64;
  ``attributes/tags/indptr`` (n + 1,) and ``attributes/tags/indices`` (nnz,) int64, attribute
  ``vocabulary`` (tags are 0 .. vocabulary - 1);
- ``workloads/<name>/``, attributes ``kind`` ("filtered"), ``filter`` (label | tags | range),
  ``info`` (JSON: target selectivity, correlation, seed, alpha_k, ...); arrays ``filters``
  ((nq,) label values; (nq, 2) tag pairs with -1 for a single tag; (nq, 2) [lo, hi) ranges),
  ``neighbors`` (nq, K) int64 and ``distances`` (nq, K) float32 (the exact filtered top-K, -1
  and inf where fewer than K pass), ``selectivity`` (nq,) float64 (the realised fraction
  passing) and ``alpha`` (nq,) int64 (the 1-based rank, in the unfiltered order, of the
  alpha_k-th passing vector; -1 where fewer pass).

The ann-benchmarks arrays (train, test, neighbors, distances) are untouched by all this.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from annbench.datasets.filters import Attributes, FilterWorkload, QueryFilters
from annbench.errors import UserError


def write_filters(f, attributes: Attributes | None, workloads: dict[str, FilterWorkload]) -> None:
    if attributes is not None:
        group = f.create_group("attributes")
        for name in ("label", "value"):
            column = getattr(attributes, name)
            if column is not None:
                group.create_dataset(name, data=np.asarray(column, dtype=np.int64))
        if attributes.tags_indptr is not None:
            tags = group.create_group("tags")
            tags.attrs["vocabulary"] = int(attributes.vocabulary)
            tags.create_dataset("indptr", data=np.asarray(attributes.tags_indptr, np.int64))
            tags.create_dataset("indices", data=np.asarray(attributes.tags_indices, np.int64))
    for name, workload in sorted(workloads.items()):
        group = f.create_group(f"workloads/{name}")
        group.attrs["kind"] = "filtered"
        group.attrs["filter"] = workload.filters.kind
        group.attrs["info"] = json.dumps(workload.info, sort_keys=True)
        group.create_dataset("filters", data=workload.filters.values)
        group.create_dataset("neighbors", data=np.asarray(workload.neighbors, np.int64))
        group.create_dataset("distances", data=np.asarray(workload.distances, np.float32))
        group.create_dataset("selectivity", data=np.asarray(workload.selectivity, np.float64))
        group.create_dataset("alpha", data=np.asarray(workload.alpha, np.int64))


def read_attributes(f, n: int) -> Attributes | None:
    if "attributes" not in f:
        return None
    group = f["attributes"]
    tags = group.get("tags")
    return Attributes(
        n=n,
        label=group["label"][:] if "label" in group else None,
        value=group["value"][:] if "value" in group else None,
        tags_indptr=tags["indptr"][:] if tags is not None else None,
        tags_indices=tags["indices"][:] if tags is not None else None,
        vocabulary=int(tags.attrs.get("vocabulary", 0)) if tags is not None else 0,
    )


def workload_names(f) -> list[str]:
    return sorted(f["workloads"]) if "workloads" in f else []


def read_workload(f, name: str, path) -> FilterWorkload:
    if name not in workload_names(f):
        known = ", ".join(workload_names(f)) or "none; make some with `annbench datasets filters`"
        raise UserError(f"{path} has no workload {name!r} (its workloads: {known})")
    group = f["workloads"][name]
    try:
        return FilterWorkload(
            name=name,
            filters=QueryFilters(str(group.attrs["filter"]), group["filters"][:]),
            neighbors=group["neighbors"][:],
            distances=group["distances"][:],
            selectivity=group["selectivity"][:],
            alpha=group["alpha"][:],
            info=json.loads(group.attrs.get("info", "{}")),
        )
    except (KeyError, ValueError) as exc:
        raise UserError(f"{path}: workload {name!r} is damaged ({exc}); make it again") from None


def workload_hash(f, name: str) -> str:
    """sha256 over a workload's filters and its ground truth, and the attributes they read."""
    digest = hashlib.sha256(name.encode())
    group = f["workloads"][name]
    for key in ("filters", "neighbors"):
        digest.update(np.ascontiguousarray(group[key][:]).tobytes())
    attribute = {"label": "attributes/label", "range": "attributes/value"}.get(
        str(group.attrs["filter"]), "attributes/tags/indices"
    )
    if attribute in f:
        digest.update(np.ascontiguousarray(f[attribute][:]).tobytes())
    return digest.hexdigest()
