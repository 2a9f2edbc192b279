"""What every dataset file must satisfy: a known metric, base and queries that form a dataset,
finite vectors (shared by the in-memory ``Dataset`` and the incremental writer)."""

from __future__ import annotations

import numpy as np

from annbench.errors import UserError

METRICS = ("euclidean", "angular", "ip")
FORMAT_VERSION = 1


def check_shapes(metric: str, base_shape: tuple, queries_shape: tuple) -> None:
    """Refuse an unknown metric or base/query shapes that cannot form a dataset."""
    if metric not in METRICS:
        raise UserError(f"unsupported distance {metric!r}; annbench supports {', '.join(METRICS)}")
    if len(base_shape) != 2 or len(queries_shape) != 2:
        raise UserError(
            f"base and queries must be 2-d arrays, got shapes {base_shape} and {queries_shape}"
        )
    if base_shape[1] != queries_shape[1]:
        raise UserError(
            f"base has dimension {base_shape[1]} but queries have "
            f"{queries_shape[1]}; both must match"
        )
    if base_shape[0] == 0 or queries_shape[0] == 0 or base_shape[1] == 0:
        raise UserError(
            "a dataset needs at least one base vector and one query, of dimension 1 or more"
        )


def first_nonfinite(vectors: np.ndarray) -> tuple[int, int]:
    """The index of the first row holding NaN or inf (-1 if none) and how many such rows."""
    finite = np.isfinite(vectors).all(axis=1)
    if finite.all():
        return -1, 0
    return int(np.argmin(finite)), int((~finite).sum())


def first_nonfinite_blocks(vectors, rows: int = 1 << 16) -> tuple[int, int]:
    """``first_nonfinite`` taken ``rows`` vectors at a time (no (n, d) mask of a large or
    memory-mapped base)."""
    first, count = -1, 0
    for start in range(0, len(vectors), rows):
        block_first, block_count = first_nonfinite(vectors[start : start + rows])
        if block_count and not count:
            first = start + block_first
        count += block_count
    return first, count


def check_finite(name: str, first: int, count: int) -> None:
    """Refuse vectors with NaN or inf, naming the first such row and how many there are."""
    if count:
        raise UserError(
            f"{name} vector {first} holds NaN or infinite values "
            f"({count} such vectors); drop or repair them first"
        )
