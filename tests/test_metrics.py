"""Recall measures (annbench/metrics.py) and frontier analysis (annbench/analysis.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from annbench.analysis.metrics import queries_per_second, recall_at_k, tolerant_recall_at_k
from annbench.analysis.pareto import pareto_front, qps_at_recall
from annbench.datasets.groundtruth import exact_distances
from annbench.datasets.store import load_dataset

from .conftest import ann_benchmarks_file

fixture_path = ann_benchmarks_file


TRUTH = np.array(
    [
        [0, 1, 2, 3, 9],
        [4, 5, 6, 7, 9],
        [8, 9, 10, 11, 12],
    ]
)


# --- recall_at_k ---------------------------------------------------------------------------


def test_recall_perfect_half_zero():
    found = np.array(
        [
            [0, 1, 2, 3],  # all four
            [4, 5, 20, 21],  # half
            [30, 31, 32, 33],  # none
        ]
    )
    np.testing.assert_array_equal(recall_at_k(found, TRUTH, 4), [1.0, 0.5, 0.0])


def test_recall_ignores_truth_beyond_k():
    # id 9 is a true neighbour only at rank 5: it does not count for k=4
    found = np.array([[0, 1, 2, 9], [9, 4, 5, 6], [8, 9, 10, 11]])
    np.testing.assert_array_equal(recall_at_k(found, TRUTH, 4), [0.75, 0.75, 1.0])


def test_recall_ignores_found_beyond_k():
    found = np.array([[40, 41, 42, 43, 0, 1], [4, 5, 6, 7, 8, 9], [8, 40, 41, 42, 9, 10]])
    np.testing.assert_array_equal(recall_at_k(found, TRUTH, 4), [0.0, 1.0, 0.25])


def test_recall_minus_one_padding_never_counts():
    found = np.array([[0, 1, -1, -1], [-1, -1, -1, -1], [8, -1, 9, -1]])
    np.testing.assert_array_equal(recall_at_k(found, TRUTH, 4), [0.5, 0.0, 0.5])
    # not even when the ground truth itself is padded with -1 (a filter passes only two
    # vectors): recall is then of the two that exist
    padded_truth = np.array([[0, 1, -1, -1], [0, 1, -1, -1], [-1, -1, -1, -1]])
    found = np.array([[0, -1, -1, -1], [-1, -1, -1, -1], [-1, -1, -1, -1]])
    np.testing.assert_array_equal(recall_at_k(found, padded_truth, 4), [0.5, 0.0, 1.0])


def test_recall_repeated_id_counts_once():
    found = np.array([[0, 0, 0, 0], [4, 5, 4, 5], [8, 9, 8, 10]])
    np.testing.assert_array_equal(recall_at_k(found, TRUTH, 4), [0.25, 0.5, 0.75])


def test_recall_order_within_k_does_not_matter():
    found = np.array([[3, 2, 1, 0], [7, 30, 4, 5], [11, 10, 9, 8]])
    shuffled = found[:, [2, 0, 3, 1]]
    expected = [1.0, 0.75, 1.0]
    np.testing.assert_array_equal(recall_at_k(found, TRUTH, 4), expected)
    np.testing.assert_array_equal(recall_at_k(shuffled, TRUTH, 4), expected)


def test_recall_truth_shorter_than_k_raises():
    with pytest.raises(ValueError, match="fewer than k"):
        recall_at_k(np.zeros((3, 10), dtype=np.int64), TRUTH, 6)


def test_recall_found_shorter_than_k_counts_missing_as_misses():
    found = np.array([[0, 1], [4, 30], [40, 41]])
    np.testing.assert_array_equal(recall_at_k(found, TRUTH, 4), [0.5, 0.25, 0.0])


def test_recall_matches_set_definition_on_random_data():
    rng = np.random.default_rng(0)
    nq, k = 200, 10
    truth = np.stack([rng.permutation(50)[:k] for _ in range(nq)])
    found = rng.integers(-1, 50, size=(nq, k))
    expected = [
        len({int(i) for i in f if i >= 0} & set(t.tolist())) / k for f, t in zip(found, truth)
    ]
    np.testing.assert_allclose(recall_at_k(found, truth, k), expected)


def test_recall_in_chunks_matches(monkeypatch):
    import annbench.analysis.metrics as metrics

    rng = np.random.default_rng(1)
    truth = np.stack([rng.permutation(30)[:5] for _ in range(50)])
    found = rng.integers(-1, 30, size=(50, 5))
    whole = recall_at_k(found, truth, 5)
    monkeypatch.setattr(metrics, "CHUNK_QUERIES", 7)
    np.testing.assert_array_equal(recall_at_k(found, truth, 5), whole)


# --- tolerant_recall_at_k -------------------------------------------------------------------


TRUE_D = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])


def test_tolerant_recall_counts_ties_with_kth():
    # k=3: threshold is 0.3 + 1e-3; a different neighbour at exactly 0.3 is as good
    found = np.array([[0.1, 0.3, 0.3]])
    np.testing.assert_allclose(tolerant_recall_at_k(found, TRUE_D, 3), [1.0])
    # just inside the tolerance
    found = np.array([[0.1, 0.2, 0.3 + 0.9e-3]])
    np.testing.assert_allclose(tolerant_recall_at_k(found, TRUE_D, 3), [1.0])


def test_tolerant_recall_rejects_beyond_tolerance():
    found = np.array([[0.1, 0.2, 0.3 + 1.1e-3]])
    np.testing.assert_allclose(tolerant_recall_at_k(found, TRUE_D, 3), [2 / 3])
    found = np.array([[0.4, 0.5, 0.3 + 2e-3]])
    np.testing.assert_allclose(tolerant_recall_at_k(found, TRUE_D, 3), [0.0])
    # a smaller epsilon tightens it
    found = np.array([[0.1, 0.2, 0.3 + 0.5e-3]])
    np.testing.assert_allclose(tolerant_recall_at_k(found, TRUE_D, 3, epsilon=1e-4), [2 / 3])


def test_tolerant_recall_ignores_distances_beyond_k():
    found = np.array([[0.1, 9.0, 9.0, 0.1, 0.1]])
    np.testing.assert_allclose(tolerant_recall_at_k(found, TRUE_D, 3), [1 / 3])


def test_tolerant_recall_excludes_padding_and_repeats_with_ids():
    # the "distances" an adapter pads with could be anything; ids decide
    found_d = np.array([[0.1, 0.1, 0.2, 0.0]])
    found_ids = np.array([[7, 7, 3, -1]])
    np.testing.assert_allclose(tolerant_recall_at_k(found_d, TRUE_D, 4), [1.0])
    np.testing.assert_allclose(tolerant_recall_at_k(found_d, TRUE_D, 4, found_ids=found_ids), [0.5])


def test_tolerant_recall_with_inf_padding_from_exact_distances():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((20, 3))
    queries = rng.standard_normal((1, 3))
    all_d = exact_distances(base, queries, np.arange(20)[None, :], "euclidean")
    order = np.argsort(all_d[0])
    true_ids = order[None, :5]
    true_d = all_d[:, order[:5]]
    found_ids = np.array([[order[0], order[1], -1, -1, -1]])
    found_d = exact_distances(base, queries, found_ids, "euclidean")
    np.testing.assert_allclose(tolerant_recall_at_k(found_d, true_d, 5), [0.4])
    np.testing.assert_allclose(tolerant_recall_at_k(found_d, true_d, 5, found_ids=found_ids), [0.4])
    np.testing.assert_allclose(recall_at_k(found_ids, true_ids, 5), [0.4])


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_tolerant_recall_of_stored_neighbours_is_one(metric):
    dataset = load_dataset(fixture_path(metric))
    k = 10
    found_ids = dataset.neighbors[:, :k]
    found_d = exact_distances(dataset.base, dataset.queries, found_ids, metric)
    recall = tolerant_recall_at_k(found_d, dataset.distances, k, found_ids=found_ids)
    assert recall.shape == (1000,)
    np.testing.assert_array_equal(recall, np.ones(1000))
    np.testing.assert_array_equal(recall_at_k(found_ids, dataset.neighbors, k), np.ones(1000))
    # and an answer shifted by one rank (misses the 1st, adds the 11th) is not perfect
    shifted = dataset.neighbors[:, 1 : k + 1]
    shifted_d = exact_distances(dataset.base, dataset.queries, shifted, metric)
    tolerant = tolerant_recall_at_k(shifted_d, dataset.distances, k, found_ids=shifted)
    assert tolerant.mean() < 1.0
    assert np.all(tolerant >= 0.9)


def test_queries_per_second():
    assert queries_per_second(1000, 2.0) == 500.0
    assert queries_per_second(10, 0.0) == math.inf


# --- pareto_front -----------------------------------------------------------------------------


def frame(points, **extra):
    data = {"recall": [p[0] for p in points], "qps": [p[1] for p in points]}
    data.update(extra)
    return pd.DataFrame(data)


def as_points(front):
    return list(zip(front["recall"].tolist(), front["qps"].tolist()))


def test_pareto_drops_dominated_points_and_ascends():
    points = [(0.9, 100.0), (0.5, 1000.0), (0.7, 50.0), (0.95, 10.0), (0.6, 500.0), (0.4, 900.0)]
    front = pareto_front(frame(points, name=list("abcdef")))
    assert as_points(front) == [(0.5, 1000.0), (0.6, 500.0), (0.9, 100.0), (0.95, 10.0)]
    assert front["name"].tolist() == ["b", "e", "a", "d"]
    assert front["recall"].is_monotonic_increasing
    assert front["qps"].is_monotonic_decreasing


def test_pareto_equal_qps_lower_recall_is_dominated():
    front = pareto_front(frame([(0.5, 100.0), (0.8, 100.0)]))
    assert as_points(front) == [(0.8, 100.0)]


def test_pareto_tie_in_recall_keeps_higher_qps():
    front = pareto_front(frame([(0.8, 100.0), (0.8, 300.0), (0.8, 200.0), (0.5, 250.0)]))
    assert as_points(front) == [(0.8, 300.0)]
    front = pareto_front(frame([(0.8, 100.0), (0.8, 300.0), (0.5, 400.0)]))
    assert as_points(front) == [(0.5, 400.0), (0.8, 300.0)]


def test_pareto_exact_duplicates_keep_first():
    points = [(0.7, 200.0), (0.9, 50.0), (0.7, 200.0), (0.9, 50.0)]
    front = pareto_front(frame(points, name=["first", "x", "second", "y"]))
    assert as_points(front) == [(0.7, 200.0), (0.9, 50.0)]
    assert front["name"].tolist() == ["first", "x"]


def test_pareto_single_point():
    front = pareto_front(frame([(0.3, 7.0)]))
    assert as_points(front) == [(0.3, 7.0)]


def test_pareto_all_points_equal():
    front = pareto_front(frame([(0.5, 10.0)] * 5, name=list("abcde")))
    assert len(front) == 1
    assert front["name"].tolist() == ["a"]


def test_pareto_ignores_nan_rows():
    points = [(0.5, 100.0), (float("nan"), 1e9), (1.0, float("nan")), (0.9, 10.0)]
    front = pareto_front(frame(points))
    assert as_points(front) == [(0.5, 100.0), (0.9, 10.0)]
    assert not front[["recall", "qps"]].isna().any().any()
    all_nan = pareto_front(frame([(float("nan"), 1.0)]))
    assert all_nan.empty


def test_pareto_other_columns_and_index_preserved():
    df = frame([(0.2, 5.0), (0.4, 3.0), (0.3, 1.0)], build=[1.0, 2.0, 3.0])
    df.index = [10, 20, 30]
    front = pareto_front(df)
    assert front.index.tolist() == [10, 20]
    assert front["build"].tolist() == [1.0, 2.0]
    # custom axes: both higher-is-better
    custom = pareto_front(df, x="build", y="recall")
    assert custom["build"].tolist() == [2.0, 3.0]


def test_pareto_front_is_exactly_the_non_dominated_set():
    rng = np.random.default_rng(3)
    points = np.round(rng.random((60, 2)) * [1.0, 1000.0], 2)
    front = pareto_front(frame([tuple(p) for p in points]))
    expected = set()
    for r, q in points:
        dominated = any((r2 >= r and q2 >= q) and (r2 > r or q2 > q) for r2, q2 in points)
        if not dominated:
            expected.add((float(r), float(q)))
    assert set(as_points(front)) == expected
    assert len(front) == len(expected)
    assert front["recall"].is_monotonic_increasing


# --- qps_at_recall ------------------------------------------------------------------------------


FRONT = frame([(0.5, 1000.0), (0.8, 100.0), (0.95, 10.0)])


def test_qps_at_recall_exact_hit():
    assert qps_at_recall(FRONT, 0.8) == 100.0
    assert qps_at_recall(FRONT, 0.95) == 10.0
    assert qps_at_recall(FRONT, 0.5) == 1000.0


def test_qps_at_recall_below_frontier_takes_first_point():
    assert qps_at_recall(FRONT, 0.1) == 1000.0


def test_qps_at_recall_interpolates_in_log_qps():
    # halfway between (0.5, 1000) and (0.8, 100) in recall: geometric mean of the QPS
    assert qps_at_recall(FRONT, 0.65) == pytest.approx(math.sqrt(1000.0 * 100.0))
    # a third of the way between (0.8, 100) and (0.95, 10)
    assert qps_at_recall(FRONT, 0.85) == pytest.approx(100.0 * 10.0 ** (-1 / 3))
    value = qps_at_recall(FRONT, 0.7)
    assert 100.0 < value < 1000.0
    assert value < (1000.0 + 100.0) / 2  # log, not linear, interpolation


def test_qps_at_recall_above_frontier_is_nan():
    assert math.isnan(qps_at_recall(FRONT, 0.96))
    assert math.isnan(qps_at_recall(FRONT, 1.0))


def test_qps_at_recall_on_pareto_output():
    df = frame([(0.95, 10.0), (0.6, 50.0), (0.5, 1000.0), (0.8, 100.0)])
    front = pareto_front(df)
    assert qps_at_recall(front, 0.65) == pytest.approx(math.sqrt(1000.0 * 100.0))
