"""Attributes of base vectors, and the filters queries carry over them. Plain data and the
masks they imply; no files (``store`` reads and writes them) and no generation
(``attributes``).

Three attribute columns, each indexed by the original base id:

- ``label``: one categorical value per vector (int64);
- ``tags``: a set of values from a vocabulary per vector, as CSR (``indptr`` of n + 1 offsets
  into ``indices``, int64), the vocabulary's size beside it;
- ``value``: one integer per vector (int64).

Three filter kinds, one filter per query:

- ``label``: ``label == v`` (``values[i]`` = v);
- ``tags``: ``tags ⊇ {a, b}`` (``values[i]`` = [a, b], or [a, -1] for one tag);
- ``range``: ``lo <= value < hi`` (``values[i]`` = [lo, hi]).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annbench.errors import UserError

KINDS = ("label", "tags", "range")
CORRELATIONS = ("positive", "none", "negative")
ATTRIBUTE_OF = {"label": "label", "tags": "tags", "range": "value"}


@dataclass
class Attributes:
    """The attribute columns of a base (any may be absent)."""

    n: int
    label: np.ndarray | None = None
    tags_indptr: np.ndarray | None = None
    tags_indices: np.ndarray | None = None
    vocabulary: int = 0
    value: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("label", "value"):
            column = getattr(self, name)
            if column is not None and np.asarray(column).shape != (self.n,):
                raise UserError(f"attribute {name!r} must hold one value per base vector")
        if (self.tags_indptr is None) != (self.tags_indices is None):
            raise UserError("attribute 'tags' needs both its offsets and its values")
        if self.tags_indptr is not None and len(self.tags_indptr) != self.n + 1:
            raise UserError("attribute 'tags' must hold one tag set per base vector")

    @property
    def columns(self) -> list[str]:
        present = {"label": self.label, "tags": self.tags_indptr, "value": self.value}
        return [name for name, column in present.items() if column is not None]

    def tag_matrix(self) -> np.ndarray:
        """(n, vocabulary) booleans: which vector carries which tag (built once)."""
        if getattr(self, "_tag_matrix", None) is None:
            matrix = np.zeros((self.n, self.vocabulary), dtype=bool)
            rows = np.repeat(np.arange(self.n), np.diff(self.tags_indptr))
            matrix[rows, self.tags_indices] = True
            self._tag_matrix = matrix
        return self._tag_matrix

    def tags_of(self, i: int) -> np.ndarray:
        return self.tags_indices[self.tags_indptr[i] : self.tags_indptr[i + 1]]

    def require(self, kind: str) -> None:
        if ATTRIBUTE_OF[kind] not in self.columns:
            raise UserError(
                f"a {kind} filter needs the attribute {ATTRIBUTE_OF[kind]!r}, which the "
                f"dataset lacks (it has: {', '.join(self.columns) or 'none'}); add it with "
                "`annbench datasets filters`"
            )


@dataclass
class QueryFilters:
    """One filter per query, all of one kind."""

    kind: str
    values: np.ndarray  # label: (nq,); tags: (nq, 2), -1 = no second tag; range: (nq, 2)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"unknown filter kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        self.values = np.asarray(self.values, dtype=np.int64)
        expected = 1 if self.kind == "label" else 2
        if self.values.ndim != expected or (expected == 2 and self.values.shape[1] != 2):
            raise UserError(f"{self.kind} filters have the wrong shape {self.values.shape}")

    def __len__(self) -> int:
        return len(self.values)

    @property
    def attribute(self) -> str:
        return ATTRIBUTE_OF[self.kind]

    def subset(self, indices) -> QueryFilters:
        """The filters of some queries (in that order)."""
        return QueryFilters(self.kind, self.values[indices])

    def key(self, i: int) -> tuple[int, ...]:
        """Equal keys, equal filters (queries sharing one are answered together)."""
        return tuple(np.atleast_1d(self.values[i]).tolist())

    def tags(self, i: int) -> list[int]:
        return [int(t) for t in self.values[i] if t >= 0]

    def describe(self, i: int) -> str:
        if self.kind == "label":
            return f"label == {int(self.values[i])}"
        if self.kind == "tags":
            return "tags ⊇ {" + ", ".join(map(str, self.tags(i))) + "}"
        lo, hi = self.values[i]
        return f"{lo} <= value < {hi}"

    def mask(self, attributes: Attributes, i: int) -> np.ndarray:
        """Which base vectors (by original id) pass query ``i``'s filter."""
        attributes.require(self.kind)
        if self.kind == "label":
            return attributes.label == self.values[i]
        if self.kind == "range":
            lo, hi = self.values[i]
            return (attributes.value >= lo) & (attributes.value < hi)
        return attributes.tag_matrix()[:, self.tags(i)].all(axis=1)

    def passing(self, attributes: Attributes, i: int) -> np.ndarray:
        """The ids passing query ``i``'s filter, ascending."""
        return np.flatnonzero(self.mask(attributes, i))

    def passes(self, attributes: Attributes, i: int, ids: np.ndarray) -> np.ndarray:
        """Whether each of ``ids`` passes query ``i``'s filter (-1 padding counts as passing),
        looking up only those ids."""
        attributes.require(self.kind)
        ids = np.asarray(ids, dtype=np.int64)
        safe = np.clip(ids, 0, None)
        if self.kind == "label":
            ok = attributes.label[safe] == self.values[i]
        elif self.kind == "range":
            lo, hi = self.values[i]
            ok = (attributes.value[safe] >= lo) & (attributes.value[safe] < hi)
        else:
            ok = attributes.tag_matrix()[safe][:, self.tags(i)].all(axis=1)
        return (ids < 0) | ok

    def groups(self) -> list[np.ndarray]:
        """Query indices grouped by identical filter."""
        _, inverse = np.unique(self.values.reshape(len(self), -1), axis=0, return_inverse=True)
        inverse = inverse.ravel()
        return [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)] if len(self) else []


@dataclass
class FilterWorkload:
    """A named filter workload of a dataset: a filter per query and its exact ground truth."""

    name: str
    filters: QueryFilters
    neighbors: np.ndarray  # (nq, K) int64, -1 where fewer than K pass
    distances: np.ndarray  # (nq, K) float32, inf where fewer than K pass
    selectivity: np.ndarray  # (nq,) realised fraction of the base passing
    alpha: np.ndarray  # (nq,) rank (1-based) in the unfiltered order of the k-th passing point
    info: dict[str, Any] = field(default_factory=dict)  # target_selectivity, correlation, ...

    def __post_init__(self) -> None:
        nq = len(self.filters)
        for name in ("neighbors", "distances"):
            if getattr(self, name).shape[0] != nq:
                raise UserError(f"workload {self.name!r}: {name} do not match its {nq} filters")
        for name in ("selectivity", "alpha"):
            if getattr(self, name).shape != (nq,):
                raise UserError(f"workload {self.name!r}: {name} needs one value per query")
