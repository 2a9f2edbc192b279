"""Insertion orders: each strategy is a seeded permutation of base ids."""

from __future__ import annotations

import numpy as np

from annbench.errors import UserError

ORDERS = ("original", "random", "reverse")


def insertion_order(name: str, n: int, seed: int = 0) -> np.ndarray:
    """The order (a permutation of range(n)) in which base vectors are handed to the adapter."""
    if name == "original":
        return np.arange(n, dtype=np.int64)
    if name == "reverse":
        return np.arange(n - 1, -1, -1, dtype=np.int64)
    if name == "random":
        return np.random.default_rng(seed).permutation(n).astype(np.int64)
    raise UserError(f"unknown insertion order {name!r}; choose one of: {', '.join(ORDERS)}")
