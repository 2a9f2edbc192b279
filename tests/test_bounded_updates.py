"""Issue 20: rewriting an existing dataset file (`datasets groundtruth`, ground truth added to a
fetched file, `annotate.ensure_*`) in bounded memory stores exactly what the code stored before
(load the whole file, then write it: tests/reference_v1.py, run in this process); the sharded
ground truth reads its shards in blocks with the same results; `Dataset.check` finds the same
first bad row block by block."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests import reference_v1 as v1
from tests.dataset_cases import K, stored
from tests.test_bounded_memory import CHILD_ENV, _vmpeak, assert_same_files

REAL = Path("/work/shared/data/ann-benchmarks/random-xs-20-euclidean.hdf5")


@pytest.fixture
def small_blocks(monkeypatch):
    """The update's copy, refine and gather blocks smaller than the test files."""
    from annbench.datasets import file_measures, groundtruth, query_measures, store

    monkeypatch.setattr(query_measures, "COVARIANCE_SAMPLE", 1000)
    monkeypatch.setattr(store, "WRITE_ROWS", 333)
    monkeypatch.setattr(groundtruth, "REFINE_BLOCK_BYTES", 137 * 4 * 8)
    monkeypatch.setattr(file_measures.FileRows, "ROWS", 211)


@pytest.fixture
def full_file(tmp_path) -> Path:
    """A seeded dataset file with every optional field: labels, lid, query labels and
    parents, measures, filter attributes and a workload (written by the old writer)."""
    from annbench.datasets.attributes import add_filter_workloads

    params = {**_defaults("blobs"), "n": 3001, "n_queries": 20, "dim": 8}
    dataset = v1.make("blobs", params, seed=3)
    v1.with_ground_truth(dataset, K, progress=False)
    rng = np.random.default_rng(2)
    dataset.lid = rng.random(3001)
    dataset.intrinsic = {"lid_k": 7, "mle": 3.5}
    dataset.query_labels = rng.integers(0, 3, size=20)
    dataset.query_parents = rng.integers(0, 99, size=20)
    add_filter_workloads(dataset, ["range"], [0.2], ["none"], seed=1)
    path = tmp_path / "full.hdf5"
    v1.write_dataset(path, dataset)
    return path


def _defaults(generator: str) -> dict:
    from annbench.datasets.synthetic import generator_params

    return generator_params(generator)


def _foreign(path: Path, rng: np.random.Generator, metric: str = "euclidean") -> Path:
    """An ann-benchmarks-style file: float64 train/test, no ground truth, no annbench attrs."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "cosine" if metric == "angular" else metric
        f["train"] = rng.standard_normal((2500, 12))
        f["test"] = rng.standard_normal((25, 12))
    return path


def _stripped(real: Path, path: Path) -> Path:
    """A copy of a real ann-benchmarks file without its ground truth (as a bare download)."""
    import h5py

    with h5py.File(real, "r") as src, h5py.File(path, "w") as f:
        for key, value in src.attrs.items():
            f.attrs[key] = value
        f["train"], f["test"] = src["train"][:], src["test"][:]
    return path


def _copy(path: Path, name: str) -> Path:
    return Path(shutil.copy(path, path.with_name(name)))


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip"])
def test_ground_truth_added_to_a_foreign_file_equals_v1(tmp_path, small_blocks, metric):
    """What `fetch` adds to a download without ground truth: float64 converted to float32,
    exact top-k, measures and provenance, as the load-everything path stored them."""
    from annbench.datasets.store import dataset_info, load_dataset
    from annbench.datasets.update import update_dataset

    sources = [_foreign(tmp_path / "foreign.hdf5", np.random.default_rng(5), metric)]
    if REAL.exists() and metric == "euclidean":
        sources.append(_stripped(REAL, tmp_path / "real.hdf5"))
    for path in sources:
        extra = {"url": "https://example.org/x.hdf5", "download_sha256": "ab" * 32}
        dataset = load_dataset(path)
        dataset.source.update(extra)
        v1.save_with_ground_truth(dataset, tmp_path / "v1.hdf5", k=K, overwrite=True)
        new = _copy(path, "new.hdf5")
        source = {**dataset_info(new)["source"], **extra}
        update_dataset(new, k=K, source=source, progress=False)
        assert_same_files(new, tmp_path / "v1.hdf5")
        assert stored(new)["train:dtype"] == "float32"


def test_given_ground_truth_equals_v1(full_file, small_blocks):
    """`datasets groundtruth`: the cluster's ground truth and means stored with the measures
    they give, every other array, attribute and workload kept."""
    from annbench.datasets.groundtruth import exact_knn_with_means
    from annbench.datasets.query_measures import attach_measures
    from annbench.datasets.store import load_dataset
    from annbench.datasets.update import GivenGroundTruth, update_dataset

    dataset = load_dataset(full_file)
    ids, distances, means, record = exact_knn_with_means(
        dataset.base, dataset.queries, dataset.metric, 7, progress=False
    )
    dataset.neighbors, dataset.distances = ids, distances
    attach_measures(dataset, means, record)
    v1.write_dataset(full_file.with_name("v1.hdf5"), dataset)
    new = _copy(full_file, "new.hdf5")
    update_dataset(new, ground_truth=GivenGroundTruth(ids, distances, means, record))
    assert_same_files(new, full_file.with_name("v1.hdf5"))
    assert stored(new)["neighbors"].shape == (20, 7)


def test_ensure_query_measures_equals_v1(full_file, small_blocks):
    from annbench.datasets.annotate import ensure_query_measures
    from annbench.datasets.query_measures import attach_measures
    from annbench.datasets.store import load_dataset

    dataset = load_dataset(full_file)
    means, record = v1.mean_distances(dataset.base, dataset.queries, dataset.metric)
    attach_measures(dataset, means, record)
    v1.write_dataset(full_file.with_name("v1.hdf5"), dataset)
    new = _copy(full_file, "new.hdf5")
    got = ensure_query_measures(new, force=True, progress=False)
    assert_same_files(new, full_file.with_name("v1.hdf5"))
    for name, values in dataset.query_measures.items():
        assert np.array_equal(got.query_measures[name], values), name
    unstored = ensure_query_measures(full_file, force=True, store=False, progress=False)
    assert sorted(unstored.query_measures) == sorted(dataset.query_measures)


def test_measures_of_a_foreign_file_with_ground_truth_equal_v1(tmp_path, small_blocks):
    """Stored float64 ground truth (ann-benchmarks) is kept, not recomputed."""
    from annbench.datasets.annotate import ensure_query_measures
    from annbench.datasets.groundtruth import exact_knn
    from annbench.datasets.query_measures import attach_measures
    from annbench.datasets.store import load_dataset

    path = _foreign(tmp_path / "foreign.hdf5", np.random.default_rng(6))
    import h5py

    with h5py.File(path, "r+") as f:
        ids, distances = exact_knn(f["train"][:], f["test"][:], "euclidean", 10, progress=False)
        f["neighbors"] = ids.astype(np.int32)
        f["distances"] = distances.astype(np.float64) + 1e-9
    dataset = load_dataset(path)
    means, record = v1.mean_distances(dataset.base, dataset.queries, dataset.metric)
    attach_measures(dataset, means, record)
    v1.write_dataset(tmp_path / "v1.hdf5", dataset)
    ensure_query_measures(path, progress=False)
    assert_same_files(path, tmp_path / "v1.hdf5")


def test_ensure_intrinsic_equals_v1(full_file, small_blocks):
    from annbench.datasets.annotate import annotate_intrinsic, ensure_intrinsic
    from annbench.datasets.store import load_dataset

    dataset = annotate_intrinsic(load_dataset(full_file), 10, progress=False)
    v1.write_dataset(full_file.with_name("v1.hdf5"), dataset)
    new = _copy(full_file, "new.hdf5")
    ensure_intrinsic(new, 10, progress=False)
    assert_same_files(new, full_file.with_name("v1.hdf5"))
    assert stored(new)["@annbench_intrinsic"] != stored(full_file)["@annbench_intrinsic"]


def test_update_with_nothing_new_keeps_every_array(full_file, small_blocks):
    from annbench.datasets.store import load_dataset
    from annbench.datasets.update import update_dataset

    v1.write_dataset(full_file.with_name("v1.hdf5"), load_dataset(full_file))
    update_dataset(full_file)
    assert_same_files(full_file, full_file.with_name("v1.hdf5"))


def test_groundtruth_command_rewrites_the_file_keeping_the_rest(full_file, tmp_path):
    """`datasets groundtruth` end to end on a local cluster: the single machine's exact
    top-k, and every array that is not ground truth or a measure kept as stored."""
    from annbench.cli import main
    from annbench.datasets.store import load_dataset

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(full_file, data / "full.hdf5")
    argv = ["--data-dir", str(data), "--results-dir", str(tmp_path / "none"), "datasets"]
    assert main([*argv, "groundtruth", "full", "--k", "10", "--shards", "2"]) in (0, None)
    want = v1.with_ground_truth(load_dataset(full_file), 10, progress=False)
    got, before = stored(data / "full.hdf5"), stored(full_file)
    assert np.array_equal(got["neighbors"], want.neighbors)
    assert np.array_equal(got["distances"], want.distances)
    # the shards' float32 distance blocks round differently from one machine's (test_dask)
    np.testing.assert_allclose(
        got["query_measures/mean_distance"], want.query_measures["mean_distance"], rtol=1e-6
    )
    kept = [name for name in before if not name.startswith(("neighbors", "distances", "query_m"))]
    assert "workloads/range-s0.2-none/neighbors" in kept and "lid" in kept
    for name in kept:
        value = before[name]
        if isinstance(value, np.ndarray):
            assert np.array_equal(got[name], value), name
        else:
            assert got[name] == value, name


def test_update_refuses_what_loading_refused(tmp_path):
    """No ground truth to keep, and optional arrays of the wrong length: one line each, and
    the file is left as it was."""
    import h5py

    from annbench.datasets.update import update_dataset
    from annbench.errors import UserError

    path = _foreign(tmp_path / "f.hdf5", np.random.default_rng(1))
    with pytest.raises(UserError, match="without ground truth"):
        update_dataset(path)
    with h5py.File(path, "r+") as f:
        f["labels"] = np.zeros(7, dtype=np.int64)
    before = path.read_bytes()
    with pytest.raises(UserError, match=r"labels must hold one entry per base vector \(2500\)"):
        update_dataset(path, k=5)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.hdf5"]


@pytest.mark.parametrize("rows", [1, 7, 64, 10_000])
def test_blockwise_finiteness_finds_the_same_row(rows):
    from annbench.datasets.validity import first_nonfinite, first_nonfinite_blocks

    rng = np.random.default_rng(rows)
    vectors = rng.standard_normal((500, 6)).astype(np.float32)
    assert first_nonfinite_blocks(vectors, rows) == (-1, 0)
    for bad in ([3], [63, 64, 499], [250, 251, 252, 400]):
        broken = vectors.copy()
        broken[bad, rng.integers(0, 6, size=len(bad))] = [np.nan, np.inf, -np.inf, np.nan][
            : len(bad)
        ]
        assert first_nonfinite_blocks(broken, rows) == first_nonfinite(broken) == (bad[0], len(bad))


def test_dataset_check_names_a_bad_row_past_the_first_block():
    from annbench.datasets.store import Dataset
    from annbench.errors import UserError

    base = np.ones((70_000, 2), dtype=np.float32)
    base[[66_000, 69_999], 1] = np.nan
    with pytest.raises(UserError) as error:
        Dataset(base=base, queries=np.ones((2, 2), np.float32), metric="euclidean")
    assert str(error.value) == (
        "base vector 66000 holds NaN or infinite values (2 such vectors); drop or repair them first"
    )


def test_dataset_check_holds_no_mask_of_the_whole_base():
    """The finiteness check of a (possibly memory-mapped) base allocates a block's mask, not
    an (n, d) one: numpy's allocations, traced, stay under an eighth of the base."""
    import tracemalloc

    from annbench.datasets.store import Dataset

    base = np.ones((200_000, 64), dtype=np.float32)  # the old (n, d) mask: a quarter of it
    queries = np.ones((3, 64), np.float32)
    tracemalloc.start()
    try:
        Dataset(base=base, queries=queries, metric="euclidean")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < base.nbytes / 8


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip"])
def test_shards_read_in_blocks_equal_whole_shards(tmp_path, monkeypatch, metric):
    """A shard scanned block by block from the file, and the client's refine in one pass over
    the file, give what a whole shard in memory and the gathered candidate rows gave."""
    import h5py

    from annbench.datasets import groundtruth
    from annbench.datasets.groundtruth import merge_scans, refine, scan
    from annbench.datasets.groundtruth_sharded import _scan_shard, shard_bounds

    monkeypatch.setattr(groundtruth, "BLOCK_BYTES", 1)  # 1024-row scan blocks
    monkeypatch.setattr(groundtruth, "REFINE_BLOCK_BYTES", 500 * 4 * 12)
    path = _foreign(tmp_path / "f.hdf5", np.random.default_rng(8), metric)
    with h5py.File(path, "r") as f:
        base = f["train"][:].astype(np.float32)
        queries = f["test"][:].astype(np.float32)
    metric_in_file = metric
    sample = np.random.default_rng(0).random(len(base)) < 0.5
    found_all = []
    for start, stop in shard_bounds(len(base), 2):
        (scores, ids), sums = _scan_shard(str(path), start, stop, metric_in_file, 9, sample)
        old_sums = np.zeros(len(queries))
        old_scores, old_ids = scan(
            base[start:stop], queries, metric, 9, offset=start, progress=False,
            distance_sums=old_sums, sample=sample[start:stop],
        )  # fmt: skip
        assert np.array_equal(ids, old_ids) and np.array_equal(scores, old_scores)
        assert np.array_equal(sums, old_sums)
        found_all.append((scores, ids))
    candidates = merge_scans(found_all, metric, 9)
    wanted = np.unique(candidates)
    old_ids, old_distances = refine(
        base[wanted], queries, np.searchsorted(wanted, candidates), metric
    )
    with h5py.File(path, "r") as f:
        ids, distances = refine(f["train"], queries, candidates, metric)
    assert np.array_equal(ids, wanted[old_ids]) and np.array_equal(distances, old_distances)


# --- a memory limit the old code could not meet -------------------------------------------


def _big_file(path: Path, n: int, dim: int, n_queries: int) -> None:
    """A base without ground truth, written in blocks (as a download would be)."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "euclidean"
        train = f.create_dataset("train", shape=(n, dim), dtype="<f4")
        for start in range(0, n, 1 << 17):
            rows = min(1 << 17, n - start)
            train[start : start + rows] = rng.standard_normal((rows, dim), np.float32)
        f["test"] = rng.standard_normal((n_queries, dim), np.float32)


# the command before the rewrite, up to its first whole-file step: the cluster's ground
# truth, then the whole dataset loaded to be written again
OLD_GROUNDTRUTH = """
import resource, sys
limit, path = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy, annbench.cli
from annbench.datasets.groundtruth_sharded import sharded_exact_knn
from annbench.datasets.store import load_dataset
from annbench.run.executors.dask import connect
client = connect(None)
try:
    sharded_exact_knn(path, client, 10, 2)
finally:
    client.close()
load_dataset(path)
"""


@pytest.mark.slow
def test_groundtruth_under_rlimit_as(tmp_path):
    """`datasets groundtruth` of a 1M x 128 file (a 512 MB base) under an address-space limit
    that the same command on 200k vectors reaches plus an eighth of the base: no room for one
    more whole base (the probe), so none for the old code, which loaded the file whole."""
    import os
    import subprocess
    import sys

    from annbench.datasets.store import dataset_info

    n, dim = 1_000_000, 128
    size = n * dim * 4
    data = tmp_path / "data"
    data.mkdir()
    _big_file(data / "small.hdf5", 200_000, dim, 100)
    _big_file(data / "big.hdf5", n, dim, 100)
    args = ["--data-dir", str(data), "--results-dir", str(tmp_path / "none"), "datasets"]
    command = [*args, "groundtruth", "--k", "10", "--shards", "2"]
    limit = _vmpeak(_run(0, 0, *command, "small")) + size // 8
    probe = _run(limit, size, *command, "small")
    assert "PROBE refused" in probe.stdout, "the limit must not hold one more whole base"
    _vmpeak(_run(limit, 0, *command, "big"))
    info = dataset_info(data / "big.hdf5")
    assert (info["n_base"], info["ground_truth_k"], info["query_measures"] != []) == (n, 10, True)
    old = subprocess.run(
        [sys.executable, "-c", OLD_GROUNDTRUTH, str(limit), str(data / "big.hdf5")],
        capture_output=True,
        text=True,
        env={**os.environ, **CHILD_ENV},
        timeout=300,
    )
    assert old.returncode != 0 and "MemoryError" in old.stderr, old.stderr[-2000:]


def _run(limit: int, probe: int, *argv: str):
    from tests.test_bounded_memory import _child

    return _child(limit, probe, *argv)
