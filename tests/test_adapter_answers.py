"""Cleaning raw answer rows (annbench.adapters.answers): the real entries are the leading ones,
and a row ends at the first entry that cannot be an answer (DiskANN and VSAG leave leftover
memory in slots they did not fill)."""

from __future__ import annotations

import numpy as np

from annbench.adapters.answers import found_prefix, pad_after


def prefix(keys, distances, known=None):
    keys, distances = np.array([keys]), np.array([distances], dtype=np.float32)
    known = np.ones_like(keys, dtype=bool) if known is None else np.array([known])
    return int(found_prefix(keys, distances, known)[0])


def test_a_clean_row_is_whole():
    assert prefix([4, 9, 2], [0.1, 0.2, 0.3]) == 3
    assert prefix([4, 9, 2], [0.5, 0.5, 0.5]) == 3  # ties are fine


def test_a_row_ends_at_an_unknown_id_a_repeat_a_descent_or_a_non_finite_distance():
    assert prefix([4, 9, 2], [0.1, 0.2, 0.3], [True, False, True]) == 1
    assert prefix([4, 9, 4, 7], [0.1, 0.2, 0.3, 0.4]) == 2  # the second 4 is the repeat
    assert prefix([4, 9, 2], [0.1, 0.3, 0.2]) == 2
    assert prefix([4, 9, 2], [0.1, np.nan, 0.3]) == 1
    assert prefix([4, 9, 2], [np.inf, 0.2, 0.3]) == 0


def test_rounding_below_the_workers_tolerance_is_not_a_descent():
    assert prefix([1, 2], [1.0, 1.0 - 5e-6]) == 2
    assert prefix([1, 2], [0.0, -5e-7]) == 2  # near zero: the absolute slack
    assert prefix([1, 2], [1.0, 1.0 - 1e-3]) == 1


def test_rows_are_judged_separately_and_padded_in_place():
    ids = np.array([[3, 5, 3], [1, 2, 8]])
    distances = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], dtype=np.float32)
    lengths = found_prefix(ids, distances, np.ones_like(ids, dtype=bool))
    assert lengths.tolist() == [2, 3]
    pad_after(ids, distances, lengths)
    assert ids.tolist() == [[3, 5, -1], [1, 2, 8]]
    assert np.isinf(distances[0, 2]) and np.isfinite(distances[1]).all()
