"""Cleaning a library's raw answer rows where the library does not say how many entries are
real: some native searches (DiskANN's, VSAG's binding) leave leftover memory in the slots
they did not fill. The real entries are the leading ones; the row ends at the first entry that
cannot be an answer."""

from __future__ import annotations

import numpy as np


def found_prefix(keys: np.ndarray, distances: np.ndarray, known: np.ndarray) -> np.ndarray:
    """How many leading entries of each row are real answers: the row ends before the first
    entry that is not ``known``, repeats an earlier key, or has a distance that is not finite
    or smaller than the one before it (distances ascend in real answers)."""
    bad = ~known | ~np.isfinite(distances)
    with np.errstate(invalid="ignore"):  # inf - inf: already bad as not finite
        slack = 1e-5 * np.abs(distances[:, :-1]) + 1e-6  # rounding, as the worker allows it
        bad[:, 1:] |= distances[:, 1:] < distances[:, :-1] - slack
    order = np.argsort(keys, axis=1, kind="stable")  # equal keys: the later one is the repeat
    ranked = np.take_along_axis(keys, order, axis=1)
    repeats = np.zeros_like(bad)
    np.put_along_axis(repeats, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
    bad |= repeats
    return np.where(bad.any(axis=1), bad.argmax(axis=1), keys.shape[1])


def pad_after(ids: np.ndarray, distances: np.ndarray, lengths: np.ndarray) -> None:
    """Pad each row in place from its ``lengths`` entry on: id -1, distance inf."""
    beyond = np.arange(ids.shape[1]) >= lengths[:, None]
    ids[beyond] = -1
    distances[beyond] = np.inf
