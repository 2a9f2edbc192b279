"""Insertion orders: seeded permutations, and what an adapter really receives in a run."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml

from annbench.datasets.store import dataset_hash, dataset_info, load_dataset
from annbench.errors import UserError
from annbench.run.orders import NEEDS_LABELS, NEEDS_LID, ORDERS, insertion_order
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame

N = 50
LABELS = np.random.default_rng(3).integers(0, 5, size=N)
LID = np.random.default_rng(4).uniform(1.0, 10.0, size=N)


def order_of(name, n=N, seed=0, labels=LABELS, lid=LID):
    return insertion_order(name, n, seed, labels=labels, lid=lid)


def is_permutation(order, n):
    return order.shape == (n,) and np.array_equal(np.sort(order), np.arange(n))


# -- the orders as pure functions -----------------------------------------------------------------


@pytest.mark.parametrize("name", ORDERS)
@pytest.mark.parametrize("seed", [0, 1, 17])
def test_every_order_is_a_permutation_reproducible_from_its_seed(name, seed):
    first = order_of(name, seed=seed)
    again = order_of(name, seed=seed)
    assert is_permutation(first, N)
    assert first.dtype == np.int64
    np.testing.assert_array_equal(first, again)


def test_fixed_orders_and_random_across_seeds():
    np.testing.assert_array_equal(order_of("original"), np.arange(N))
    np.testing.assert_array_equal(order_of("reverse"), np.arange(N)[::-1])
    np.testing.assert_array_equal(order_of("original", seed=5), np.arange(N))
    randoms = [order_of("random", seed=seed) for seed in range(4)]
    for i in range(len(randoms)):
        for j in range(i + 1, len(randoms)):
            assert not np.array_equal(randoms[i], randoms[j])
    assert not np.array_equal(randoms[0], np.arange(N))


def label_runs(order, labels):
    """The labels in the order their contiguous runs appear."""
    seen = labels[order]
    starts = np.flatnonzero(np.r_[True, seen[1:] != seen[:-1]])
    return seen[starts].tolist()


def test_label_grouped_keeps_labels_contiguous_and_stored_order_within_a_label():
    order = order_of("label-grouped")
    runs = label_runs(order, LABELS)
    assert sorted(runs) == sorted(np.unique(LABELS).tolist())  # one run per label
    for value in runs:
        members = order[LABELS[order] == value]
        np.testing.assert_array_equal(members, np.flatnonzero(value == LABELS))


def test_label_grouped_label_order_changes_with_the_seed():
    label_orders = {tuple(label_runs(order_of("label-grouped", seed=s), LABELS)) for s in range(8)}
    assert len(label_orders) > 1
    for runs in label_orders:
        assert sorted(runs) == sorted(np.unique(LABELS).tolist())


def test_label_interleaved_round_robin_with_unequal_groups():
    labels = np.array([7] * 6 + [3] * 1 + [9] * 3 + [7] * 2)  # sizes 8, 1, 3, one split group
    groups = {v: np.flatnonzero(labels == v) for v in np.unique(labels)}
    for seed in range(6):
        order = insertion_order("label-interleaved", len(labels), seed, labels=labels)
        assert is_permutation(order, len(labels))
        seen = labels[order]
        assert len(set(seen[:3].tolist())) == 3  # one of each label first
        label_order = seen[:3].tolist()
        # then round after round, in the same label order, skipping exhausted groups
        expected = []
        for rank in range(max(len(g) for g in groups.values())):
            expected += [groups[v][rank] for v in label_order if rank < len(groups[v])]
        np.testing.assert_array_equal(order, expected)
    first_labels = {
        tuple(labels[insertion_order("label-interleaved", len(labels), s, labels=labels)][:3])
        for s in range(10)
    }
    assert len(first_labels) > 1  # the label order is seeded


def test_label_interleaved_starts_with_one_of_each_label():
    order = order_of("label-interleaved", seed=2)
    n_labels = len(np.unique(LABELS))
    assert len(set(LABELS[order[:n_labels]].tolist())) == n_labels


def test_lid_orders_sort_by_lid_ties_broken_by_id():
    lid = np.array([3.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0])
    asc = insertion_order("lid-asc", len(lid), 0, lid=lid)
    desc = insertion_order("lid-desc", len(lid), 0, lid=lid)
    np.testing.assert_array_equal(asc, [5, 1, 3, 2, 6, 0, 4])
    np.testing.assert_array_equal(desc, [0, 4, 2, 6, 1, 3, 5])
    # on random LID: sorted, and the seed plays no part
    asc = order_of("lid-asc", seed=3)
    assert np.all(np.diff(LID[asc]) >= 0)
    assert np.all(np.diff(LID[order_of("lid-desc")]) <= 0)
    np.testing.assert_array_equal(order_of("lid-desc", seed=9), order_of("lid-desc", seed=0))
    np.testing.assert_array_equal(asc, order_of("lid-asc", seed=0))


def test_lid_orders_put_nan_last():
    lid = np.array([2.0, np.nan, 1.0, 3.0])
    assert insertion_order("lid-asc", 4, lid=lid).tolist() == [2, 0, 3, 1]
    assert insertion_order("lid-desc", 4, lid=lid).tolist() == [3, 0, 2, 1]


@pytest.mark.parametrize("name", sorted(NEEDS_LABELS))
def test_label_orders_without_labels_are_refused(name):
    with pytest.raises(UserError, match=name):
        insertion_order(name, N, 0, labels=None, lid=LID)


@pytest.mark.parametrize("name", sorted(NEEDS_LID))
def test_lid_orders_without_lid_are_refused(name):
    with pytest.raises(UserError, match=name):
        insertion_order(name, N, 0, labels=LABELS, lid=None)


def test_unknown_order_is_refused():
    with pytest.raises(UserError, match="sideways"):
        insertion_order("sideways", N)
    with pytest.raises(UserError, match="sideways"):
        parse_experiment({"datasets": ["x"], "adapters": ["y"], "orders": ["sideways"]})


# -- what the adapter receives in a real run ------------------------------------------------------

RUN_ORDERS = ["original", "random", "reverse", "lid-asc", "label-grouped"]


def test_adapter_receives_reordered_base_with_original_ids(tmp_path, make_dataset, test_adapters):
    path = make_dataset("grouped", n=1500, n_queries=30, dim=8)  # blobs: has labels
    assert not dataset_info(path)["has_lid"]
    dump = tmp_path / "dump"
    experiment = parse_experiment(
        {
            "datasets": [str(path)],
            "adapters": [{"name": "recorder", "build": {"dump": str(dump)}}],
            "orders": RUN_ORDERS,
            "seeds": [0, 1],
            "k": 10,
            "repeats": 1,
            "warmup": 0,
        }
    )
    jobs = expand(experiment, tmp_path / "datasets", progress=False)
    assert len(jobs) == len(RUN_ORDERS) * 2
    dataset = load_dataset(path)
    assert dataset.labels is not None and dataset.lid is not None  # lid-asc computed it

    outcomes = run_sweep(jobs, tmp_path / "results", executor="process")
    assert [o.status for o in outcomes] == ["ok"] * len(jobs), [o.error for o in outcomes]

    for number, (job, outcome) in enumerate(zip(jobs, outcomes)):
        expected = insertion_order(
            job.insertion_order, len(dataset.base), job.seed, labels=dataset.labels, lid=dataset.lid
        )
        received = np.load(dump / f"{number:03d}-ids.npy")
        received_base = np.load(dump / f"{number:03d}-base.npy")
        with h5py.File(outcome.path, "r") as f:
            stored = f["insertion_order"][:]
        where = f"{job.insertion_order} seed {job.seed}"
        np.testing.assert_array_equal(received, expected, err_msg=where)
        np.testing.assert_array_equal(stored, expected, err_msg=where)
        np.testing.assert_array_equal(received_base, dataset.base[expected], err_msg=where)

    received = {
        (job.insertion_order, job.seed): np.load(dump / f"{i:03d}-ids.npy")
        for i, job in enumerate(jobs)
    }
    assert not np.array_equal(received["random", 0], received["random", 1])
    assert not np.array_equal(received["label-grouped", 0], received["label-grouped", 1])
    np.testing.assert_array_equal(received["original", 0], np.arange(len(dataset.base)))

    frame = load_frame(tmp_path / "results")
    assert len(frame) == len(jobs)
    assert sorted(set(frame["insertion_order"])) == sorted(RUN_ORDERS)
    assert (frame["status"] == "ok").all()
    assert (frame["recall"] == 1.0).all(), frame[["insertion_order", "seed", "recall"]]


def test_label_order_on_dataset_without_labels_is_refused_at_expand(tmp_path, make_dataset):
    path = make_dataset("plain", generator="gauss", n=500, n_queries=10, dim=8)
    experiment = parse_experiment(
        {"datasets": [str(path)], "adapters": ["faiss-flat"], "orders": ["label-grouped"]}
    )
    with pytest.raises(UserError, match="label-grouped"):
        expand(experiment, tmp_path / "datasets", progress=False)


def test_cli_run_with_label_order_and_no_labels_is_one_line_error(tmp_path, make_dataset, cli):
    path = make_dataset("plain", generator="gauss", n=500, n_queries=10, dim=8)
    spec = tmp_path / "spec.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "datasets": ["plain"],
                "adapters": ["faiss-flat"],
                "orders": ["original", "label-interleaved"],
            }
        )
    )
    results = tmp_path / "results"
    status, _, err = cli("--data-dir", path.parent, "--results-dir", results, "run", spec)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("annbench: error: ")
    assert "label-interleaved" in lines[0]
    assert not results.exists() or not any(results.rglob("*.h5*"))


def test_lid_order_computes_and_stores_lid_without_changing_the_content_hash(
    tmp_path, make_dataset
):
    path = make_dataset("plain", generator="gauss", n=600, n_queries=10, dim=8)
    before = dataset_hash(path)
    original = load_dataset(path)
    assert original.lid is None
    experiment = parse_experiment(
        {"datasets": [str(path)], "adapters": ["faiss-flat"], "orders": ["lid-asc", "lid-desc"]}
    )
    jobs = expand(experiment, tmp_path / "datasets", progress=False)
    with h5py.File(path, "r") as f:
        assert "lid" in f and f["lid"].shape == (600,)
        lid = f["lid"][:]
    assert np.isfinite(lid).all() and (lid > 0).all()
    assert dataset_hash(path) == before
    assert {job.dataset_hash for job in jobs} == {before}
    after = load_dataset(path)
    np.testing.assert_array_equal(after.base, original.base)
    np.testing.assert_array_equal(after.queries, original.queries)
    np.testing.assert_array_equal(after.neighbors, original.neighbors)
    assert after.source == original.source
    assert after.intrinsic["lid_k"] == 100
    # a second expand finds the stored LID and leaves the file alone
    mtime = path.stat().st_mtime_ns
    expand(experiment, tmp_path / "datasets", progress=False)
    assert path.stat().st_mtime_ns == mtime
