"""Exact ground truth (annbench/groundtruth.py) against an independent numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest

import annbench.datasets.groundtruth as groundtruth
from annbench.datasets.groundtruth import (
    exact_distances,
    exact_knn,
    save_with_ground_truth,
    with_ground_truth,
)
from annbench.datasets.store import Dataset, load_dataset
from annbench.errors import UserError

from .conftest import ann_benchmarks_file

METRICS = ("euclidean", "angular", "ip")


fixture_path = ann_benchmarks_file


def brute_force(base, queries, metric, k):
    """Independent reference: full float64 distance matrix, stable argsort."""
    x = np.asarray(base, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    if metric == "euclidean":
        d = np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))
    elif metric == "angular":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = 1.0 - qn @ xn.T
    elif metric == "ip":
        d = -(q @ x.T)
    else:  # pragma: no cover
        raise AssertionError(metric)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1), d


def assert_matches_reference(ids, dists, base, queries, metric, k, *, tie_tol=1e-5):
    ref_ids, ref_d, full = brute_force(base, queries, metric, k)
    assert ids.shape == ref_ids.shape == dists.shape
    assert ids.dtype == np.int64
    assert dists.dtype == np.float32
    np.testing.assert_allclose(dists, ref_d, rtol=1e-5, atol=1e-5)
    for row in range(len(queries)):
        kth = ref_d[row, -1]
        # ids whose distance is not within tie_tol of the k-th must be exactly the same and in
        # the same order; the rest (ties at the boundary) must be equally distant
        sure = ref_d[row] < kth - tie_tol
        np.testing.assert_array_equal(ids[row, sure], ref_ids[row, sure])
        tied = ~sure
        assert np.all(np.abs(full[row, ids[row, tied]] - kth) <= tie_tol)
        assert len(set(ids[row].tolist())) == k
        # distances are those of the returned ids
        np.testing.assert_allclose(dists[row], full[row, ids[row]], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", METRICS)
def test_exact_knn_matches_brute_force_distinct(metric):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 12)).astype(np.float32)
    queries = rng.standard_normal((40, 12)).astype(np.float32)
    ids, dists = exact_knn(base, queries, metric, k=10, progress=False)
    ref_ids, ref_d, _ = brute_force(base, queries, metric, 10)
    # random gaussians: all distances distinct, so ids agree exactly, order included
    assert np.all(np.diff(ref_d, axis=1) > 1e-6)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(dists, ref_d, rtol=1e-5, atol=1e-5)
    assert_matches_reference(ids, dists, base, queries, metric, 10)


@pytest.mark.parametrize("metric", METRICS)
def test_exact_knn_with_ties(metric):
    rng = np.random.default_rng(1)
    # small integer lattice: many exactly tied distances
    base = rng.integers(-2, 3, size=(300, 4)).astype(np.float32)
    base[np.all(base == 0, axis=1)] = 1.0  # no zero vectors (angular is undefined there)
    queries = rng.integers(-2, 3, size=(25, 4)).astype(np.float32)
    queries[np.all(queries == 0, axis=1)] = 1.0
    ids, dists = exact_knn(base, queries, metric, k=15, progress=False)
    ref_ids, ref_d, full = brute_force(base, queries, metric, 15)
    np.testing.assert_allclose(dists, ref_d, rtol=1e-5, atol=1e-5)
    for row in range(len(queries)):
        # as sets per distinct-distance group: within a group of equal distances any order
        # is the same answer; a group cut by the k-th boundary must only hold tied ids
        for value in np.unique(np.round(ref_d[row], 5)):
            mine = set(ids[row][np.isclose(dists[row], value, atol=1e-5)].tolist())
            ref = set(ref_ids[row][np.isclose(ref_d[row], value, atol=1e-5)].tolist())
            assert len(mine) == len(ref)
            if value < np.round(ref_d[row, -1], 5):
                assert mine == ref
            else:
                assert all(abs(full[row, i] - ref_d[row, -1]) < 1e-5 for i in mine)
        # ties are broken by id
        for a, b in zip(range(14), range(1, 15)):
            if abs(float(dists[row, a]) - float(dists[row, b])) == 0:
                assert ids[row, a] < ids[row, b]


@pytest.mark.parametrize("metric", METRICS)
def test_rows_ascend(metric):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((400, 8)).astype(np.float32)
    queries = rng.standard_normal((30, 8)).astype(np.float32)
    ids, dists = exact_knn(base, queries, metric, k=50, progress=False)
    assert np.all(np.diff(dists.astype(np.float64), axis=1) >= 0)
    assert np.all((ids >= 0) & (ids < len(base)))


@pytest.mark.parametrize("metric", METRICS)
def test_k_larger_than_base_is_clipped(metric):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((7, 6)).astype(np.float32)
    queries = rng.standard_normal((5, 6)).astype(np.float32)
    ids, dists = exact_knn(base, queries, metric, k=100, progress=False)
    assert ids.shape == (5, 7) and dists.shape == (5, 7)
    for row in ids:
        assert sorted(row.tolist()) == list(range(7))
    assert_matches_reference(ids, dists, base, queries, metric, 7)


def test_unsupported_metric_and_empty_base_are_user_errors():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((10, 3)).astype(np.float32)
    with pytest.raises(UserError):
        exact_knn(base, base[:2], "hamming", k=3, progress=False)
    with pytest.raises(UserError):
        exact_knn(base[:0], base[:2], "euclidean", k=3, progress=False)


@pytest.mark.parametrize("metric", METRICS)
def test_blocked_path_equals_unblocked(metric, monkeypatch):
    rng = np.random.default_rng(5)
    n, dim = 3500, 8
    base = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((20, dim)).astype(np.float32)
    whole_ids, whole_d = exact_knn(base, queries, metric, k=30, progress=False)
    assert groundtruth._block_rows(dim) >= n  # default: one block

    monkeypatch.setattr(groundtruth, "BLOCK_BYTES", 64)
    rows = groundtruth._block_rows(dim)
    assert rows < n and -(-n // rows) >= 3  # the base is now split in several blocks
    calls = []
    real_knn = __import__("faiss").knn

    def counting_knn(xq, xb, k, **kwargs):
        calls.append(len(xb))
        return real_knn(xq, xb, k, **kwargs)

    monkeypatch.setattr("faiss.knn", counting_knn)
    block_ids, block_d = exact_knn(base, queries, metric, k=30, progress=False)
    assert len(calls) >= 3 and sum(calls) == n
    np.testing.assert_array_equal(block_ids, whole_ids)
    np.testing.assert_array_equal(block_d, whole_d)
    assert_matches_reference(block_ids, block_d, base, queries, metric, 30)


def test_blocked_path_with_last_block_smaller_than_k(monkeypatch):
    rng = np.random.default_rng(6)
    monkeypatch.setattr(groundtruth, "BLOCK_BYTES", 1)
    rows = groundtruth._block_rows(4)
    n = 2 * rows + 3  # last block holds 3 rows, fewer than k
    base = rng.standard_normal((n, 4)).astype(np.float32)
    queries = base[-3:] + 1e-3  # the true nearest neighbours live in the last, tiny block
    ids, dists = exact_knn(base, queries, "euclidean", k=10, progress=False)
    np.testing.assert_array_equal(ids[:, 0], np.arange(n - 3, n))
    assert_matches_reference(ids, dists, base, queries, "euclidean", 10)


def test_exact_knn_accepts_float64_input():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((200, 5))
    queries = rng.standard_normal((10, 5))
    ids, dists = exact_knn(base, queries, "angular", k=5, progress=False)
    assert_matches_reference(ids, dists, base, queries, "angular", 5)


@pytest.mark.parametrize("metric", METRICS)
def test_exact_distances_definitions_and_padding(metric):
    rng = np.random.default_rng(8)
    base = rng.standard_normal((50, 6)).astype(np.float32)
    queries = rng.standard_normal((4, 6)).astype(np.float32)
    ids = rng.integers(0, 50, size=(4, 5))
    ids[0, 2] = -1
    ids[3, 4] = -1
    ids[1, 0] = 50  # out of range also counts as missing
    out = exact_distances(base, queries, ids, metric)
    assert out.dtype == np.float64 and out.shape == ids.shape
    _, _, full = brute_force(base, queries, metric, 1)
    for (r, c), i in np.ndenumerate(ids):
        if i < 0 or i >= 50:
            assert out[r, c] == np.inf
        else:
            assert out[r, c] == pytest.approx(full[r, i], rel=1e-9, abs=1e-9)
    # spot-check the definitions themselves
    q, x = queries[2].astype(np.float64), base[ids[2, 1]].astype(np.float64)
    expected = {
        "euclidean": np.linalg.norm(q - x),
        "angular": 1 - q @ x / (np.linalg.norm(q) * np.linalg.norm(x)),
        "ip": -(q @ x),
    }[metric]
    assert out[2, 1] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_exact_distances_all_padding_row():
    base = np.ones((3, 2), dtype=np.float32)
    queries = np.zeros((2, 2), dtype=np.float32)
    out = exact_distances(base, queries, np.full((2, 4), -1), "euclidean")
    assert np.all(np.isinf(out)) and np.all(out > 0)


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_agrees_with_ann_benchmarks_ground_truth(metric):
    dataset = load_dataset(fixture_path(metric))
    ids, dists = exact_knn(dataset.base, dataset.queries, metric, k=100, progress=False)
    assert ids.shape == dataset.neighbors.shape == (1000, 100)
    assert np.mean(ids == dataset.neighbors) >= 0.999
    np.testing.assert_allclose(dists, dataset.distances, rtol=0, atol=1e-4)
    # and our float64 distances of their neighbours match their stored float64 distances
    theirs = exact_distances(dataset.base, dataset.queries, dataset.neighbors, metric)
    np.testing.assert_allclose(theirs, dataset.distances, rtol=0, atol=1e-4)


def test_save_with_ground_truth_writes_loadable_file(tmp_path):
    rng = np.random.default_rng(9)
    dataset = Dataset(
        base=rng.standard_normal((300, 10)).astype(np.float32),
        queries=rng.standard_normal((12, 10)).astype(np.float32),
        metric="angular",
        source={"generator": "test", "seed": 9},
    )
    path = save_with_ground_truth(dataset, tmp_path / "gt.hdf5", progress=False)
    assert path == tmp_path / "gt.hdf5"
    loaded = load_dataset(path)
    assert loaded.neighbors.shape == (12, 100)
    assert loaded.distances.shape == (12, 100)
    assert loaded.source == {"generator": "test", "seed": 9}
    assert_matches_reference(
        loaded.neighbors, loaded.distances, dataset.base, dataset.queries, "angular", 100
    )

    # refuses to overwrite, then does with overwrite=True
    with pytest.raises(UserError):
        save_with_ground_truth(dataset, path, progress=False)
    assert save_with_ground_truth(dataset, path, overwrite=True, progress=False) == path


def test_with_ground_truth_fills_dataset():
    rng = np.random.default_rng(10)
    dataset = Dataset(
        base=rng.standard_normal((80, 3)).astype(np.float32),
        queries=rng.standard_normal((6, 3)).astype(np.float32),
        metric="ip",
    )
    out = with_ground_truth(dataset, k=20, progress=False)
    assert out is dataset
    assert dataset.ground_truth_k == 20
    assert_matches_reference(
        dataset.neighbors, dataset.distances, dataset.base, dataset.queries, "ip", 20
    )
