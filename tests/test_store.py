"""The dataset file (annbench/datasets/store.py): ann-benchmarks layout in and out."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import h5py
import numpy as np
import pytest

from annbench.datasets.store import (
    Dataset,
    content_hash,
    dataset_hash,
    dataset_info,
    load_dataset,
    write_dataset,
)
from annbench.errors import UserError

from .conftest import ann_benchmarks_file

FIXTURE_METRICS = ("euclidean", "angular")


fixture_path = ann_benchmarks_file


def small_dataset(
    seed: int = 0,
    *,
    n: int = 60,
    nq: int = 7,
    dim: int = 5,
    k: int = 4,
    metric: str = "euclidean",
    labels: bool = False,
    source=None,
) -> Dataset:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((nq, dim)).astype(np.float32)
    neighbors = np.stack([rng.permutation(n)[:k] for _ in range(nq)]).astype(np.int64)
    distances = np.sort(rng.random((nq, k)), axis=1).astype(np.float32)
    return Dataset(
        base=base,
        queries=queries,
        metric=metric,
        neighbors=neighbors,
        distances=distances,
        labels=rng.integers(0, 3, n) if labels else None,
        source=source if source is not None else {},
    )


def assert_one_line_user_error(excinfo) -> str:
    message = str(excinfo.value)
    assert message
    assert "\n" not in message
    return message


# --- the real ann-benchmarks files ---------------------------------------------------------


@pytest.mark.parametrize("metric", FIXTURE_METRICS)
def test_ann_benchmarks_fixture_loads_unchanged(metric):
    path = fixture_path(metric)
    dataset = load_dataset(path)
    with h5py.File(path, "r") as f:
        train = f["train"][:]
        test = f["test"][:]
        neighbors = f["neighbors"][:]
        distances = f["distances"][:]

    assert dataset.metric == metric
    assert dataset.base.shape == (9000, 20)
    assert dataset.queries.shape == (1000, 20)
    assert dataset.neighbors.shape == (1000, 100)
    assert dataset.distances.shape == (1000, 100)
    assert dataset.dimension == 20
    assert dataset.ground_truth_k == 100
    assert dataset.base.dtype == np.float32
    assert dataset.queries.dtype == np.float32
    assert dataset.neighbors.dtype == np.int64
    assert dataset.labels is None
    assert dataset.source == {}
    # float32 copies of the stored float64 values, to float32 precision
    np.testing.assert_array_equal(dataset.base, train.astype(np.float32))
    np.testing.assert_array_equal(dataset.queries, test.astype(np.float32))
    np.testing.assert_allclose(dataset.base, train, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dataset.queries, test, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dataset.distances, distances, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(dataset.neighbors, neighbors)


@pytest.mark.parametrize("metric", FIXTURE_METRICS)
def test_ann_benchmarks_fixture_info(metric):
    path = fixture_path(metric)
    info = dataset_info(path)
    assert info["name"] == f"random-xs-20-{metric}"
    assert info["path"] == str(path)
    assert info["metric"] == metric
    assert info["n_base"] == 9000
    assert info["n_queries"] == 1000
    assert info["dimension"] == 20
    assert info["ground_truth_k"] == 100
    assert info["has_labels"] is False
    assert info["format_version"] == 0
    assert info["source"] == {}
    assert info["content_hash"] is None


@pytest.mark.parametrize("metric", FIXTURE_METRICS)
def test_ann_benchmarks_fixture_hash_is_computed_from_arrays(metric):
    path = fixture_path(metric)
    dataset = load_dataset(path)
    digest = dataset_hash(path)
    assert digest == content_hash(dataset.base, dataset.queries, metric)
    assert len(digest) == 64
    assert dataset_hash(path) == digest


# --- files annbench writes -------------------------------------------------------------------


def test_written_file_has_ann_benchmarks_layout(tmp_path):
    dataset = small_dataset(1, metric="angular")
    path = tmp_path / "out.hdf5"
    write_dataset(path, dataset)

    # plain h5py code, as ann-benchmarks reads its files
    with h5py.File(path, "r") as f:
        assert {"train", "test", "neighbors", "distances"} <= set(f.keys())
        assert f.attrs["distance"] == "angular"
        assert f.attrs["point_type"] == "float"
        assert int(f.attrs["dimension"]) == 5
        assert f.attrs["type"] == "dense"
        train = np.array(f["train"])
        test = np.array(f["test"])
        neighbors = np.array(f["neighbors"])
        distances = np.array(f["distances"])

    assert train.shape == (60, 5) and train.dtype == np.float32
    assert test.shape == (7, 5) and test.dtype == np.float32
    assert neighbors.dtype == np.int64
    np.testing.assert_array_equal(train, dataset.base)
    np.testing.assert_array_equal(test, dataset.queries)
    np.testing.assert_array_equal(neighbors, dataset.neighbors)
    np.testing.assert_array_equal(distances, dataset.distances)


def test_write_then_load_round_trips_labels_and_source(tmp_path):
    source = {"generator": "blobs", "params": {"n": 60, "dim": 5}, "seed": 1}
    dataset = small_dataset(2, metric="ip", labels=True, source=source)
    path = tmp_path / "nested" / "dir" / "round.hdf5"
    digest = write_dataset(path, dataset)

    loaded = load_dataset(path)
    assert loaded.metric == "ip"
    np.testing.assert_array_equal(loaded.base, dataset.base)
    np.testing.assert_array_equal(loaded.queries, dataset.queries)
    np.testing.assert_array_equal(loaded.neighbors, dataset.neighbors)
    np.testing.assert_array_equal(loaded.distances, dataset.distances)
    np.testing.assert_array_equal(loaded.labels, dataset.labels)
    assert loaded.source == source

    info = dataset_info(path)
    assert info["has_labels"] is True
    assert info["format_version"] == 1
    assert info["source"] == source
    assert info["content_hash"] == digest
    assert info["ground_truth_k"] == 4
    assert dataset_hash(path) == digest
    with h5py.File(path, "r") as f:
        assert json.loads(f.attrs["annbench_source"]) == source
    # no temporary files are left beside the result
    assert sorted(p.name for p in path.parent.iterdir()) == ["round.hdf5"]


def test_content_hash_is_stable_and_sensitive():
    dataset = small_dataset(3)
    first = content_hash(dataset.base, dataset.queries, "euclidean")
    again = content_hash(dataset.base.copy(), dataset.queries.copy(), "euclidean")
    assert first == again
    # float64 input hashes like its float32 value
    assert content_hash(dataset.base.astype(np.float64), dataset.queries, "euclidean") == first

    changed = dataset.base.copy()
    changed[5, 2] += 1e-3
    assert content_hash(changed, dataset.queries, "euclidean") != first
    changed_q = dataset.queries.copy()
    changed_q[0, 0] = -changed_q[0, 0] + 1.0
    assert content_hash(dataset.base, changed_q, "euclidean") != first
    assert content_hash(dataset.base, dataset.queries, "angular") != first
    # same bytes, different split between base and queries
    moved = np.concatenate([dataset.base, dataset.queries[:1]])
    assert content_hash(moved, dataset.queries[1:], "euclidean") != first


def test_written_hash_is_stable_across_writes_and_changes_with_data(tmp_path):
    dataset = small_dataset(4)
    a = write_dataset(tmp_path / "a.hdf5", dataset)
    b = write_dataset(tmp_path / "b.hdf5", small_dataset(4))
    assert a == b
    assert dataset_hash(tmp_path / "a.hdf5") == dataset_hash(tmp_path / "b.hdf5") == a

    other = small_dataset(4)
    other.base[0, 0] += 1.0
    c = write_dataset(tmp_path / "c.hdf5", other)
    assert c != a
    assert dataset_hash(tmp_path / "c.hdf5") == c


def test_write_refuses_to_overwrite_and_leaves_file_alone(tmp_path):
    path = tmp_path / "keep.hdf5"
    first = small_dataset(5)
    digest = write_dataset(path, first)
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns

    second = small_dataset(6)
    with pytest.raises(UserError) as excinfo:
        write_dataset(path, second)
    message = assert_one_line_user_error(excinfo)
    assert str(path) in message
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime
    assert dataset_hash(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.hdf5"]

    new_digest = write_dataset(path, second, overwrite=True)
    assert new_digest != digest
    np.testing.assert_array_equal(load_dataset(path).base, second.base)


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "atomic.hdf5"
    write_dataset(path, small_dataset(13))
    before = path.read_bytes()
    broken = small_dataset(14)
    broken.labels = np.array([f"label-{i}" for i in range(len(broken.base))])  # not int64
    with pytest.raises(ValueError):
        write_dataset(path, broken, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.hdf5"]


def test_written_file_permissions_follow_umask(tmp_path):
    """A dataset file is shared data (other users, containers): it must get the permissions
    any newly created file gets under the current umask, not the 0600 of a private temp file."""
    umask = os.umask(0o022)
    try:
        path = tmp_path / "shared.hdf5"
        write_dataset(path, small_dataset(15))
        mode = stat.S_IMODE(path.stat().st_mode)
        reference = tmp_path / "plain.bin"
        reference.write_bytes(b"")
        assert stat.S_IMODE(reference.stat().st_mode) == 0o644
        assert mode == 0o644, f"dataset file written with mode {oct(mode)}, expected 0o644"
    finally:
        os.umask(umask)


def test_write_refuses_dataset_without_ground_truth(tmp_path):
    dataset = small_dataset(7)
    dataset.neighbors = None
    dataset.distances = None
    path = tmp_path / "nogt.hdf5"
    with pytest.raises(UserError) as excinfo:
        write_dataset(path, dataset)
    assert_one_line_user_error(excinfo)
    assert not path.exists()


# --- bad files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", [load_dataset, dataset_info, dataset_hash])
def test_not_hdf5_is_a_user_error(tmp_path, reader):
    path = tmp_path / "junk.hdf5"
    path.write_text("this is not an HDF5 file\nsecond line\n")
    with pytest.raises(UserError) as excinfo:
        reader(path)
    message = assert_one_line_user_error(excinfo)
    assert str(path) in message


@pytest.mark.parametrize("reader", [load_dataset, dataset_info, dataset_hash])
def test_missing_file_is_a_user_error(tmp_path, reader):
    path = tmp_path / "absent.hdf5"
    with pytest.raises(UserError) as excinfo:
        reader(path)
    message = assert_one_line_user_error(excinfo)
    assert str(path) in message
    assert "does not exist" in message


def write_raw(path: Path, *, distance="euclidean", keys=("train", "test"), point_type="float"):
    rng = np.random.default_rng(8)
    with h5py.File(path, "w") as f:
        if distance is not None:
            f.attrs["distance"] = distance
        f.attrs["point_type"] = point_type
        f.attrs["dimension"] = 4
        for key in keys:
            f.create_dataset(key, data=rng.standard_normal((10, 4)))
    return path


@pytest.mark.parametrize("reader", [load_dataset, dataset_info])
def test_unsupported_distance_is_a_user_error(tmp_path, reader):
    path = write_raw(tmp_path / "hamming.hdf5", distance="hamming")
    with pytest.raises(UserError) as excinfo:
        reader(path)
    message = assert_one_line_user_error(excinfo)
    assert "hamming" in message


@pytest.mark.parametrize("reader", [load_dataset, dataset_info])
def test_missing_distance_attribute_is_a_user_error(tmp_path, reader):
    path = write_raw(tmp_path / "nodist.hdf5", distance=None)
    with pytest.raises(UserError) as excinfo:
        reader(path)
    assert "distance" in assert_one_line_user_error(excinfo)


@pytest.mark.parametrize("reader", [load_dataset, dataset_info])
def test_missing_train_is_a_user_error(tmp_path, reader):
    path = write_raw(tmp_path / "notrain.hdf5", keys=("test",))
    with pytest.raises(UserError) as excinfo:
        reader(path)
    assert "'train'" in assert_one_line_user_error(excinfo)


def test_non_float_point_type_is_a_user_error(tmp_path):
    path = write_raw(tmp_path / "bits.hdf5", point_type="bit")
    with pytest.raises(UserError) as excinfo:
        load_dataset(path)
    assert "bit" in assert_one_line_user_error(excinfo)


def test_cosine_distance_reads_as_angular(tmp_path):
    path = write_raw(tmp_path / "cos.hdf5", distance="cosine")
    dataset = load_dataset(path)
    assert dataset.metric == "angular"
    assert dataset.neighbors is None and dataset.ground_truth_k == 0


# --- Dataset.check --------------------------------------------------------------------------


def test_check_rejects_mismatched_dimensions():
    rng = np.random.default_rng(9)
    with pytest.raises(UserError) as excinfo:
        Dataset(base=rng.random((10, 4)), queries=rng.random((3, 5)), metric="euclidean")
    message = assert_one_line_user_error(excinfo)
    assert "4" in message and "5" in message


def test_check_rejects_labels_of_wrong_length():
    rng = np.random.default_rng(10)
    with pytest.raises(UserError) as excinfo:
        Dataset(
            base=rng.random((10, 4)),
            queries=rng.random((3, 4)),
            metric="euclidean",
            labels=np.zeros(9, dtype=np.int64),
        )
    assert "10" in assert_one_line_user_error(excinfo)
    # right length passes
    Dataset(
        base=rng.random((10, 4)),
        queries=rng.random((3, 4)),
        metric="euclidean",
        labels=np.zeros(10, dtype=np.int64),
    )


def test_check_rejects_later_mutation():
    dataset = small_dataset(11, labels=True)
    dataset.labels = dataset.labels[:-1]
    with pytest.raises(UserError):
        dataset.check()


@pytest.mark.parametrize(
    "changes",
    [
        {"metric": "hamming"},
        {"base": np.zeros((0, 5), dtype=np.float32)},
        {"queries": np.zeros(5, dtype=np.float32)},
        {"neighbors": None},
        {"neighbors": np.zeros((6, 4), dtype=np.int64)},
        {"distances": np.zeros((7, 3), dtype=np.float32)},
    ],
    ids=["metric", "empty-base", "1d-queries", "half-ground-truth", "gt-rows", "gt-cols"],
)
def test_check_rejects_other_inconsistencies(changes):
    good = small_dataset(12)
    fields = {
        "base": good.base,
        "queries": good.queries,
        "metric": good.metric,
        "neighbors": good.neighbors,
        "distances": good.distances,
        **changes,
    }
    with pytest.raises(UserError) as excinfo:
        Dataset(**fields)
    assert_one_line_user_error(excinfo)


@pytest.mark.parametrize("where", ["base", "queries"])
def test_non_finite_vectors_are_refused_by_name_and_row(where):
    rng = np.random.default_rng(0)
    arrays = {"base": rng.random((50, 4)), "queries": rng.random((5, 4))}
    arrays[where][3, 1] = np.inf
    with pytest.raises(UserError, match=f"{where} vector 3 holds NaN or infinite"):
        Dataset(base=arrays["base"], queries=arrays["queries"], metric="euclidean")


def test_import_of_nan_vectors_is_one_line_exit_2_and_writes_nothing(tmp_path, cli):
    x = np.random.default_rng(1).random((200, 4)).astype(np.float32)
    x[7, 0] = np.nan
    np.save(tmp_path / "nan.npy", x)
    status, _, err = cli(
        "--data-dir",
        tmp_path / "d",
        "datasets",
        "import",
        "bad",
        tmp_path / "nan.npy",
        "--n-queries",
        "20",
    )
    assert status == 2 and len(err.strip().splitlines()) == 1 and "NaN" in err
    assert not (tmp_path / "d" / "bad.hdf5").exists()
