"""Vectors as a metric sees them: float32, unit-normalised for angular."""

from __future__ import annotations

import numpy as np


def as_float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def normalized(array: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    array = np.asarray(array, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.ascontiguousarray(array / np.where(norms > 0, norms, 1), dtype=np.float32)


def geometry(vectors: np.ndarray, metric: str) -> np.ndarray:
    """``vectors`` in the geometry ``metric`` sees (unit-normalised for angular), float32."""
    return normalized(vectors) if metric == "angular" else as_float32(vectors)
